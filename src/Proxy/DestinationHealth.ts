import { Clock, Duration, Effect } from "effect"

/** How often a destination that stays down is mentioned again in the log. */
export const downReminderInterval = Duration.seconds(30)

export type DestinationState = "unknown" | "up" | "down"

/**
 * What all connections together know about one destination: whether the last
 * attempt to reach it worked, and its byte totals. Every forwarder reports here,
 * so a dead destination is logged once (then reminded every 30 s), not once per
 * source connection per retry.
 */
export class DestinationHealth {
  state: DestinationState = "unknown"
  /** Forwarders currently connected to it. */
  connected = 0
  delivered = 0
  dropped = 0
  private downSince = 0
  private lastReport = 0
  private failuresSinceReport = 0

  constructor(readonly name: string) {}

  reportUp(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.connected++
      const previous = this.state
      this.state = "up"
      if (previous === "up") return Effect.void
      return Effect.flatMap(Clock.currentTimeMillis, (now) =>
        previous === "down"
          ? Effect.logInfo(`destination ${this.name} is up again after ${formatSince(this.downSince, now)}`)
          : Effect.logInfo(`destination ${this.name} is up`))
    })
  }

  reportDisconnected(): void {
    this.connected--
  }

  reportDown(reason: string): Effect.Effect<void> {
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      if (this.state !== "down") {
        this.state = "down"
        this.downSince = now
        this.lastReport = now
        this.failuresSinceReport = 0
        return Effect.logWarning(`destination ${this.name} is down: ${reason}; redialling`)
      }
      this.failuresSinceReport++
      if (now - this.lastReport < Duration.toMillis(downReminderInterval)) return Effect.void
      const failures = this.failuresSinceReport
      this.lastReport = now
      this.failuresSinceReport = 0
      return Effect.logWarning(
        `destination ${this.name} still down after ${formatSince(this.downSince, now)} ` +
          `(${failures} failed attempts since the last report): ${reason}`
      )
    })
  }
}

const formatSince = (since: number, now: number): string =>
  Duration.format(Duration.seconds(Math.max(1, Math.round((now - since) / 1000))))

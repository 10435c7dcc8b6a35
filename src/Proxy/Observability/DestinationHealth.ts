import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/** A destination that stays down, or keeps flapping, is mentioned at most this often. */
export const reportInterval = Duration.seconds(30)

export type DestinationState = "unknown" | "up" | "down"

/** Why a connection to a destination ended: it failed, or the proxy cut it for being too slow. */
export type FailureKind = "down" | "too slow"

/**
 * What all connections together know about one destination: whether the last
 * attempt to reach it worked, and its byte totals. Every forwarder reports here,
 * so the log speaks of the destination, not of each source connection: a
 * failure is logged once, then summed up at most every 30 s however many
 * connections fail however often, and "up again" only follows a logged failure.
 */
export class DestinationHealth {
  state: DestinationState = "unknown"
  /** Forwarders currently connected to it. */
  connected = 0
  delivered = 0
  dropped = 0
  /** Framed routes only: messages delivered whole, and messages missed (issue 13). */
  messagesDelivered = 0
  messagesDropped = 0
  /** Attempts to connect that failed (refused, timed out, unresolvable), over all connections. */
  connectFailures = 0
  /** Connections established again after a failure of the same source's link. */
  reconnects = 0
  /** Connections the proxy cut because the destination held the source back too long. */
  writeStallsCut = 0
  /** Source connections not forwarded to it, by its `sample:` share. */
  sampledOut = 0
  /** `tls://` only: handshakes that failed (certificate, name, protocol), and when its certificate expires (Unix s). */
  tlsHandshakeFailures = 0
  certificateExpiry: number | undefined = undefined
  private downSince = 0
  /** A failure was logged and no recovery since. */
  private failureLogged = false
  private lastReport: number | undefined
  private failuresSinceReport = 0
  private upSinceReport = false

  constructor(readonly name: string) {}

  /** A link connected to it, at `now`; returns the line to log about it, if any. */
  markUp(now: number): string | undefined {
    this.connected++
    const previous = this.state
    if (previous === "up") return undefined
    this.state = "up"
    this.upSinceReport = true
    if (previous === "unknown") return `destination ${this.name} is up`
    if (!this.failureLogged) return undefined
    this.failureLogged = false
    return `destination ${this.name} is up again after ${formatSince(this.downSince, now)}`
  }

  reportUp(): Effect.Effect<void> {
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const line = this.markUp(now)
      return line === undefined ? Effect.void : Effect.logInfo(line)
    })
  }

  reportDisconnected(): void {
    this.connected--
  }

  reportDown(kind: FailureKind, reason: string): Effect.Effect<void> {
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const line = this.markDown(kind, reason, now)
      return line === undefined ? Effect.void : Effect.logWarning(line)
    })
  }

  /** A link's attempt or connection failed, at `now`; returns the warning to log about it, if any. */
  markDown(kind: FailureKind, reason: string, now: number): string | undefined {
    this.failuresSinceReport++
    const wasDown = this.state === "down"
    if (!wasDown) {
      this.state = "down"
      this.downSince = now
    }
    if (this.lastReport !== undefined && now - this.lastReport < Duration.toMillis(reportInterval)) {
      return undefined
    }
    const failures = this.failuresSinceReport
    const stayedDown = this.failureLogged && !this.upSinceReport
    this.lastReport = now
    this.failuresSinceReport = 0
    this.upSinceReport = false
    this.failureLogged = true
    if (stayedDown) {
      return `destination ${this.name} still down after ${formatSince(this.downSince, now)} ` +
        `(${failures} failed attempts since the last report): ${reason}`
    }
    const flapping = failures > 1 ? ` (${failures} failures since the last report)` : ""
    return kind === "too slow"
      ? `destination ${this.name} cannot keep up: ${reason}; cut and redialling${flapping}`
      : `destination ${this.name} is down: ${reason}; redialling${flapping}`
  }
}

const formatSince = (since: number, now: number): string => {
  const millis = Math.max(0, now - since)
  return millis < 1000 ? `${millis}ms` : Duration.format(Duration.millis(Math.round(millis / 1000) * 1000))
}

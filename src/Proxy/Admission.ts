import { Clock, Duration, Effect } from "effect"
import type { AllowList } from "./Cidr.js"
import type { ProxyCounters, RefusalReason } from "./Stats.js"

/** Refusals are logged once, then summed up at most this often: an abusive source cannot flood the log. */
export const refusalReportInterval = Duration.seconds(30)

const describe: Record<RefusalReason, string> = {
  max_connections: "over --max-connections",
  not_allowed: "source not in --allow"
}

/**
 * Who may connect: sources inside `--allow`, while fewer than
 * `--max-connections` are open. Every refusal is counted (for `/metrics`); the
 * first of each kind is logged at once, later ones in one line at most every
 * 30 s, with how many there were and the latest source.
 */
export class Admission {
  private readonly lastReport: Partial<Record<RefusalReason, number>> = {}
  private readonly sinceReport: Record<RefusalReason, number> = { max_connections: 0, not_allowed: 0 }

  constructor(
    private readonly counters: ProxyCounters,
    private readonly allowList: AllowList | undefined,
    private readonly maxConnections: number | undefined
  ) {}

  /** Why a connection from `address` must be refused with `open` connections already open, if it must. */
  refusal(address: string | undefined, open: number): RefusalReason | undefined {
    if (this.allowList !== undefined && !this.allowList.allows(address)) return "not_allowed"
    if (this.maxConnections !== undefined && open >= this.maxConnections) return "max_connections"
    return undefined
  }

  /** Counts a refusal, and logs it unless one of its kind was logged in the last 30 s. */
  refused(reason: RefusalReason, peer: string): Effect.Effect<void> {
    const log = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      this.sinceReport[reason]++
      const last = this.lastReport[reason]
      if (last !== undefined && now - last < Duration.toMillis(refusalReportInterval)) return Effect.void
      const count = this.sinceReport[reason]
      this.lastReport[reason] = now
      this.sinceReport[reason] = 0
      const message = last === undefined || count === 1
        ? `refused a connection (${describe[reason]})`
        : `refused ${count} connections (${describe[reason]}) in the last ${
          Duration.format(Duration.millis(Math.round((now - last) / 1000) * 1000))
        }; latest shown`
      return Effect.logWarning(message).pipe(Effect.annotateLogs({ peer, refused: reason }))
    })
    // Counted once logged, so whoever sees the count can rely on the log line being out.
    return Effect.ensuring(log, Effect.sync(() => this.counters.refused[reason]++))
  }
}

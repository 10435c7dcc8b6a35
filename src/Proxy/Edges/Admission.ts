import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { AllowList } from "../Settings/Cidr.js"
import { isOwnConnection } from "./OwnConnections.js"
import type { ProxyCounters, RefusalReason } from "../Observability/Stats.js"

/** Refusals are logged once, then summed up at most this often: an abusive source cannot flood the log. */
export const refusalReportInterval = Duration.seconds(30)

const describe: Record<RefusalReason, string> = {
  max_connections: "over --max-connections",
  not_allowed: "source not in --allow",
  loop: "it is one of the proxy's own connections to a destination: that destination is this proxy",
  proxy_protocol: "no valid PROXY protocol header, which --accept-proxy-protocol requires",
  tls: "TLS handshake failed"
}

const reasons = Object.keys(describe) as ReadonlyArray<RefusalReason>

/**
 * Who may connect: not one of the proxy's own outbound connections (a
 * destination that resolves to the proxy itself), sources inside `--allow`,
 * while fewer than `--max-connections` are open. Every refusal is counted (for
 * `/metrics`); the first of each kind is logged at once, later ones in one line
 * at most every 30 s, with how many there were and the latest source. At
 * shutdown, `flush` logs what is still to be summed up.
 */
export class Admission {
  private readonly lastReport: Partial<Record<RefusalReason, number>> = {}
  private readonly sinceReport: Record<RefusalReason, number> = {
    max_connections: 0,
    not_allowed: 0,
    loop: 0,
    proxy_protocol: 0,
    tls: 0
  }
  private readonly latestPeer: Partial<Record<RefusalReason, string>> = {}

  constructor(
    private readonly counters: ProxyCounters,
    private readonly allowList: AllowList | undefined,
    private readonly maxConnections: number | undefined
  ) {}

  /**
   * Why an accepted connection must be refused with `open` connections already
   * open, if it must. Behind a balancer (`--accept-proxy-protocol`), `--allow` is
   * asked later, of the source its PROXY header names (`allows`).
   */
  refusal(
    socket: Parameters<typeof isOwnConnection>[0],
    open: number,
    behindBalancer = false
  ): RefusalReason | undefined {
    if (isOwnConnection(socket)) return "loop"
    if (!behindBalancer && !this.allows(socket.remoteAddress)) return "not_allowed"
    if (this.maxConnections !== undefined && open >= this.maxConnections) return "max_connections"
    return undefined
  }

  /** Whether `--allow` lets this source address in. */
  allows(address: string | undefined): boolean {
    return this.allowList === undefined || this.allowList.allows(address)
  }

  private summary(reason: RefusalReason, count: number, since: number, now: number): string {
    return `refused ${count} connection${count === 1 ? "" : "s"} (${describe[reason]}) in the last ${
      Duration.format(Duration.millis(Math.max(1000, Math.round((now - since) / 1000) * 1000)))
    }; latest shown`
  }

  /**
   * Counts a refusal, and logs it unless one of its kind was logged in the last 30 s;
   * `problem` says what was wrong with this one (a PROXY header's fault).
   */
  refused(reason: RefusalReason, peer: string, problem?: string): Effect.Effect<void> {
    const log = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      this.sinceReport[reason]++
      this.latestPeer[reason] = peer
      const last = this.lastReport[reason]
      if (last !== undefined && now - last < Duration.toMillis(refusalReportInterval)) return Effect.void
      const count = this.sinceReport[reason]
      this.lastReport[reason] = now
      this.sinceReport[reason] = 0
      const message = last === undefined || count === 1
        ? `refused a connection (${describe[reason]})`
        : this.summary(reason, count, last, now)
      return Effect.logWarning(problem === undefined ? message : `${message}: ${problem}`).pipe(
        Effect.annotateLogs({ peer, refused: reason })
      )
    })
    // Counted once logged, so whoever sees the count can rely on the log line being out.
    return Effect.ensuring(log, Effect.sync(() => this.counters.refused[reason]++))
  }

  /** Logs every refusal not yet summed up (run in the drain): none is left out of the log at shutdown. */
  flush(): Effect.Effect<void> {
    return Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.forEach(reasons, (reason) => {
        const count = this.sinceReport[reason]
        const last = this.lastReport[reason]
        if (count === 0 || last === undefined) return Effect.void
        this.sinceReport[reason] = 0
        this.lastReport[reason] = now
        return Effect.logWarning(this.summary(reason, count, last, now)).pipe(
          Effect.annotateLogs({ peer: this.latestPeer[reason] ?? "", refused: reason })
        )
      }, { discard: true }))
  }
}

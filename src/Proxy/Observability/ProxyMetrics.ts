import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { globalValue } from "effect/GlobalValue"
import type * as Scope from "effect/Scope"
import type { FiberCounter } from "./FiberCounter.js"
import * as M from "./MetricNames.js"
import type { ProxyCounters, RefusalReason } from "./Stats.js"

/**
 * Feeds a running proxy's plain counters (`Stats.ts`, `DestinationHealth.ts`)
 * into the Effect metrics of `MetricNames.ts`, at scrape time: the data path
 * only ever bumps integers, and the cost of metrics is paid once per scrape.
 *
 * Effect's metric registry is one per process, so every proxy running in the
 * process registers here and a scrape reports their sum: counters grow by what
 * each proxy added since the last scrape; gauges are set to the total over the
 * proxies running now (so a proxy that stopped no longer counts; its
 * destinations' `up` keeps the last state seen).
 */
class MetricsFeed {
  /** Counter values already added to the Effect metrics, by series. */
  private readonly reported = new Map<string, number>()

  /** What `counters` had counted before this feed began (a reload's new counters carry on the connection ids). */
  private readonly acceptedBefore: number

  constructor(readonly counters: ProxyCounters, readonly fibers: FiberCounter | undefined, readonly route: string) {
    this.acceptedBefore = counters.acceptedConnections
  }

  /** Adds to `counter` what `total` grew by since the last scrape. */
  private catchUp(key: string, counter: Metric.Metric.Counter<number>, total: number, before = 0): Effect.Effect<void> {
    const previous = this.reported.get(key)
    const delta = total - (previous ?? before)
    // The first scrape shows every series, at 0 if need be, so a dashboard never has to guess.
    if (delta <= 0 && previous !== undefined) return Effect.void
    this.reported.set(key, total)
    return Metric.incrementBy(counter, delta)
  }

  counterUpdates(): ReadonlyArray<Effect.Effect<void>> {
    const c = this.counters
    const updates = [
      this.catchUp("accepted", M.connectionsAccepted, c.acceptedConnections, this.acceptedBefore),
      this.catchUp("received", M.bytesReceived, c.bytesReceived),
      ...(Object.keys(c.refused) as Array<RefusalReason>).map((reason) =>
        this.catchUp(`refused ${reason}`, Metric.tagged(M.connectionsRefused, "reason", reason), c.refused[reason])
      )
    ]
    for (const health of c.destinations) {
      const tagged = (metric: Metric.Metric.Counter<number>) =>
        Metric.tagged(Metric.tagged(metric, "destination", health.name), "route", this.route)
      const at = (what: string) => `${what} ${health.name}`
      updates.push(
        this.catchUp(at("delivered"), tagged(M.bytesDelivered), health.delivered),
        this.catchUp(at("dropped"), tagged(M.bytesDropped), health.dropped),
        this.catchUp(at("connect failures"), tagged(M.destinationConnectFailures), health.connectFailures),
        this.catchUp(at("reconnects"), tagged(M.destinationReconnects), health.reconnects),
        this.catchUp(at("stalls cut"), tagged(M.destinationWriteStallsCut), health.writeStallsCut),
        this.catchUp(at("sampled out"), tagged(M.destinationSampledOut), health.sampledOut)
      )
      if (c.framed)
        updates.push(this.catchUp(at("messages dropped"), tagged(M.messagesDropped), health.messagesDropped))
    }
    if (c.framed) {
      updates.push(this.catchUp("framing errors", Metric.tagged(M.framingErrors, "route", this.route), c.framingErrors))
    }
    if (c.tls) {
      // A source's failed handshake is its refusal as `tls`; a destination's, its failed attempt.
      const failures = (side: string) => Metric.tagged(M.tlsHandshakeFailures, "side", side)
      updates.push(this.catchUp("tls source", failures("source"), c.refused.tls))
      for (const health of c.destinations) {
        updates.push(this.catchUp(`tls ${health.name}`, failures("destination"), health.tlsHandshakeFailures))
      }
    }
    return updates
  }
}

const feeds = globalValue(Symbol.for("socket-proxy/ProxyMetrics/feeds"), () => new Set<MetricsFeed>())
const reportedDestinations = globalValue(Symbol.for("socket-proxy/ProxyMetrics/destinations"), () => new Set<string>())
const reportedRoutes = globalValue(Symbol.for("socket-proxy/ProxyMetrics/routes"), () => new Set<string>())

/** Makes this proxy's (one route's) counters part of every scrape, labelled `route`, for as long as the scope is open. */
export const registerProxy = (
  counters: ProxyCounters,
  fibers: FiberCounter | undefined,
  route: string
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const feed = new MetricsFeed(counters, fibers, route)
      feeds.add(feed)
      return feed
    }),
    // A last catch-up, so what a stopping proxy counted is not lost.
    (feed) =>
      Effect.all(feed.counterUpdates(), { discard: true }).pipe(Effect.zipRight(Effect.sync(() => feeds.delete(feed))))
  ).pipe(Effect.asVoid)

/** A series of a destination of a route: the two labels, as one map key. */
const seriesKey = (route: string, destination: string) => JSON.stringify([route, destination])

/** Sums per route and destination name over every running proxy. */
const byDestination = (pick: (health: ProxyCounters["destinations"][number]) => number | undefined) => {
  const totals = new Map<string, number>()
  for (const feed of feeds) {
    for (const health of feed.counters.destinations) {
      const value = pick(health)
      const key = seriesKey(feed.route, health.name)
      if (value !== undefined) totals.set(key, (totals.get(key) ?? 0) + value)
    }
  }
  return totals
}

const setTagged = (gauge: Metric.Metric.Gauge<number>, totals: Map<string, number>) =>
  Effect.forEach(totals, ([key, value]) => {
    const [route, destination] = JSON.parse(key) as [string, string]
    return Metric.set(Metric.tagged(Metric.tagged(gauge, "destination", destination), "route", route), value)
  }, { discard: true })

/** Brings every metric up to date with the running proxies' counters; run it just before a scrape. */
export const refreshMetrics: Effect.Effect<void> = Effect.suspend(() => {
  const open = new Map<string, number>()
  // One FiberCounter may count for several routes (and several generations of one): count each once.
  const fiberCounters = new Set<FiberCounter>()
  const buffered = new Map<string, number>()
  const updates: Array<Effect.Effect<void>> = []
  for (const feed of feeds) {
    open.set(feed.route, (open.get(feed.route) ?? 0) + feed.counters.open.size)
    if (feed.fibers !== undefined) fiberCounters.add(feed.fibers)
    for (const connection of feed.counters.open.values()) {
      for (const link of connection.links) {
        const key = seriesKey(feed.route, link.health.name)
        buffered.set(key, (buffered.get(key) ?? 0) + link.buffered)
      }
    }
    updates.push(...feed.counterUpdates())
  }
  let fibers = 0
  for (const counter of fiberCounters) fibers += counter.active
  // Every destination and route ever reported gets a value: 0 once no running proxy holds bytes or connections for it.
  for (const feed of feeds) {
    reportedRoutes.add(feed.route)
    for (const health of feed.counters.destinations) reportedDestinations.add(seriesKey(feed.route, health.name))
  }
  for (const route of reportedRoutes) if (!open.has(route)) open.set(route, 0)
  const connectionsOpen = byDestination((health) => health.connected)
  for (const name of reportedDestinations) {
    if (!buffered.has(name)) buffered.set(name, 0)
    if (!connectionsOpen.has(name)) connectionsOpen.set(name, 0)
  }
  // "up" wins over "down" when two running proxies share a destination name.
  const up = new Map<string, number>()
  for (
    const [name, count] of byDestination((
      health
    ) => (health.state === "unknown" ? undefined : health.state === "up" ? 1 : 0))
  ) {
    up.set(name, count > 0 ? 1 : 0)
  }
  return Effect.all([
    ...updates,
    Effect.forEach(open, ([route, count]) => Metric.set(Metric.tagged(M.connectionsOpen, "route", route), count), {
      discard: true
    }),
    Metric.set(M.fibersActive, fibers),
    setTagged(M.bytesBuffered, buffered),
    setTagged(M.destinationConnectionsOpen, connectionsOpen),
    setTagged(M.destinationUp, up),
    setTagged(M.destinationCertificateExpiry, byDestination((health) => health.certificateExpiry)),
    Effect.forEach(feeds, (feed) => {
      const expiry = feed.counters.listenerCertificateExpiry
      return expiry === undefined
        ? Effect.void
        : Metric.set(Metric.tagged(M.listenerCertificateExpiry, "route", feed.route), expiry)
    }, { discard: true })
  ], { discard: true })
})

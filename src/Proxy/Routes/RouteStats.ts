import type { DestinationStats, ProxyStats } from "../Observability/Stats.js"
import type { ProxyCounters } from "../Observability/Stats.js"

/**
 * One route's stats over every set of counters it has had (a reload that changes
 * its destinations starts new ones; the connections opened before keep theirs):
 * open connections and bytes of all of them; per destination of the current
 * list, its totals over every set that had it; ids and health from the current.
 */
export const mergeStats = (all: ReadonlyArray<ProxyCounters>, current: ProxyCounters): ProxyStats => {
  const snapshots = all.map((counters) => counters.snapshot())
  const now = current.snapshot()
  const totals = new Map<string, DestinationStats>()
  for (const snapshot of snapshots) {
    for (const d of snapshot.destinations) {
      const sum = totals.get(d.destination)
      totals.set(
        d.destination,
        sum === undefined ? d : {
          ...sum,
          connected: sum.connected + d.connected,
          delivered: sum.delivered + d.delivered,
          dropped: sum.dropped + d.dropped,
          messagesDelivered: sum.messagesDelivered + d.messagesDelivered,
          messagesDropped: sum.messagesDropped + d.messagesDropped
        }
      )
    }
  }
  return {
    openConnections: snapshots.reduce((n, s) => n + s.openConnections, 0),
    acceptedConnections: now.acceptedConnections,
    refusedConnections: {
      max_connections: snapshots.reduce((n, s) => n + s.refusedConnections.max_connections, 0),
      not_allowed: snapshots.reduce((n, s) => n + s.refusedConnections.not_allowed, 0),
      loop: snapshots.reduce((n, s) => n + s.refusedConnections.loop, 0),
      proxy_protocol: snapshots.reduce((n, s) => n + s.refusedConnections.proxy_protocol, 0),
      tls: snapshots.reduce((n, s) => n + s.refusedConnections.tls, 0)
    },
    bytesReceived: snapshots.reduce((n, s) => n + s.bytesReceived, 0),
    messagesReceived: snapshots.reduce((n, s) => n + s.messagesReceived, 0),
    framingErrors: snapshots.reduce((n, s) => n + s.framingErrors, 0),
    connections: snapshots.flatMap((s) => s.connections),
    destinations: now.destinations.map((d) => ({ ...(totals.get(d.destination) ?? d), state: d.state }))
  }
}

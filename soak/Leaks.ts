/**
 * The leak check: what the kernel (`/proc/PID/fd`) and the proxy's metrics say it
 * holds, against what the sources actually connected need. Pure, so each failure
 * is a sentence naming what leaked.
 */
import type { Scrape } from "./Metrics.js"
import { metricKey } from "./Metrics.js"

export interface LeakReading {
  /** Socket descriptors the proxy's process holds. */
  readonly sockets: number
  /** The proxy's /metrics; undefined for a proxy without `--metrics`. */
  readonly scrape: Scrape | undefined
  /** Source connections open, as the sources themselves report. */
  readonly sources: number
}

export interface LeakExpectation {
  readonly pid: number
  /** Sockets of the idle proxy: listeners and the like. */
  readonly baselineSockets: number
  /** Destinations as configured ("host:port"); each must hold one connection per source. */
  readonly destinations: ReadonlyArray<string>
  /** Destinations a reload removed: their links flush, then close; none may stay open. */
  readonly removed: ReadonlyArray<string>
  /** Most fibers the open connections may need; undefined: not judged. */
  readonly fibersAllowed: number | undefined
}

/** The route of a proxy run from flags: its series carry the label `route="default"`. */
export const proxyRoute = "default"

export const metricOf = (reading: LeakReading, name: string, labels: Readonly<Record<string, string>> = {}) =>
  reading.scrape?.get(metricKey(name, labels))

/** What is wrong with the proxy's sockets, connections and fibers; empty when nothing leaked. */
export const leaksIn = (reading: LeakReading, expect: LeakExpectation): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const open = metricOf(reading, "socket_proxy_connections_open", { route: proxyRoute }) ?? reading.sources
  if (open !== reading.sources) {
    problems.push(
      `socket_proxy_connections_open is ${open} but ${reading.sources} sources are connected: ${
        open - reading.sources
      } source connection(s) leaked`
    )
  }
  let destinationSockets = 0
  for (const name of expect.destinations) {
    const held =
      metricOf(reading, "socket_proxy_destination_connections_open", { destination: name, route: proxyRoute }) ??
        reading.sources
    destinationSockets += held
    if (held !== open) problems.push(`destination ${name} has ${held} connections open for ${open} sources`)
  }
  for (const name of expect.removed) {
    const held = metricOf(reading, "socket_proxy_destination_connections_open", {
      destination: name,
      route: proxyRoute
    })
    if (held !== undefined && held > 0) {
      problems.push(`destination ${name}, which a reload removed, still has ${held} connections open`)
    }
  }
  const expected = expect.baselineSockets + open + destinationSockets
  if (reading.sockets !== expected) {
    problems.push(
      `the proxy holds ${reading.sockets} sockets (/proc/${expect.pid}/fd), expected ${expected} = baseline ${expect.baselineSockets} + ${open} sources + ${destinationSockets} destination connections: ${
        reading.sockets - expected
      } socket(s) leaked`
    )
  }
  const fibers = metricOf(reading, "socket_proxy_fibers_active")
  if (fibers !== undefined && expect.fibersAllowed !== undefined && fibers > expect.fibersAllowed) {
    problems.push(
      `socket_proxy_fibers_active is ${fibers}, more than the ${expect.fibersAllowed} that ${open} connections need: fibers leaked`
    )
  }
  return problems
}

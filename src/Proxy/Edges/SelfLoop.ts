import * as Either from "effect/Either"
import { isIPv4 } from "node:net"
import * as os from "node:os"
import type { Endpoint, ListenAddress } from "../Settings/Endpoint.js"
import { formatEndpoint } from "../Settings/Endpoint.js"

/*
 * A destination that is the proxy's own listen address makes every source a
 * loop: each connection the proxy makes to it is accepted by the proxy, which
 * connects to it again. Refused at start when it can be seen from the
 * configuration alone (this file); a name that resolves to the proxy itself is
 * caught at run time (`OwnConnections.ts`).
 */

const wildcards = new Set(["0.0.0.0", "::"])
const localhostAddresses = new Set(["localhost", "127.0.0.1", "::1"])

const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || (isIPv4(host) && host.startsWith("127."))

/** This machine's own addresses and names: loopback, every interface address, the host name. */
export const localHosts = (): ReadonlySet<string> => {
  const hosts = new Set<string>(["localhost", "::1", "0.0.0.0", "::", os.hostname().toLowerCase()])
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const address of addresses ?? []) hosts.add(address.address.toLowerCase())
  }
  return hosts
}

const normalize = (host: string): string => {
  const lower = host.toLowerCase()
  return lower.startsWith("::ffff:") && isIPv4(lower.slice(7)) ? lower.slice(7) : lower
}

/**
 * Whether a connection to `destination` reaches the proxy's own listener at
 * `listen`: the same port, and a host the listener answers on (any local
 * address or name for a wildcard listener; the address itself, and `localhost`
 * for a loopback one). Port 0 (any free port) can never be a destination's.
 */
export const reachesListener = (
  listen: ListenAddress,
  destination: Endpoint,
  local: ReadonlySet<string> = localHosts()
): boolean => {
  if (listen.port === 0 || destination.port !== listen.port) return false
  const target = normalize(destination.host)
  const listenHost = listen.host === undefined ? undefined : normalize(listen.host)
  if (listenHost === undefined || wildcards.has(listenHost)) {
    return local.has(target) || isLoopback(target)
  }
  if (target === listenHost) return true
  // `localhost` is dialled as 127.0.0.1 and ::1; 127.0.0.2 is another address.
  if (target === "localhost") return localhostAddresses.has(listenHost)
  if (listenHost === "localhost") return localhostAddresses.has(target)
  return false
}

/** The first destination that is the listen address itself, described for one line on stderr. */
export const selfLoop = (
  listen: ListenAddress,
  destinations: ReadonlyArray<Endpoint>,
  local: ReadonlySet<string> = localHosts()
): Either.Either<void, { readonly destination: Endpoint; readonly reason: string }> => {
  const looping = destinations.find((destination) => reachesListener(listen, destination, local))
  return looping === undefined
    ? Either.void
    : Either.left({
      destination: looping,
      reason: `it is the proxy's own listen address (${
        formatEndpoint(listen)
      }): the proxy would forward to itself, in a loop; give a destination elsewhere, or another --listen port`
    })
}

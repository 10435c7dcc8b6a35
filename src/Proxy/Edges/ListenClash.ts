import type { ListenAddress } from "../Settings/Endpoint.js"

const wildcards = new Set([undefined, "0.0.0.0", "::", "[::]"])

/**
 * True when binding both addresses would fail with "address already in use": the
 * same port (not 0, which the OS picks), and the same host or one of them on
 * every interface.
 */
export const listenClash = (a: ListenAddress, b: ListenAddress): boolean =>
  a.port !== 0 && a.port === b.port && (a.host === b.host || wildcards.has(a.host) || wildcards.has(b.host))

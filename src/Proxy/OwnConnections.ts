import { globalValue } from "effect/GlobalValue"

/*
 * The local ends (address and port) of the proxy's own outbound connections
 * that are open now, over every proxy of the process. A source the proxy
 * accepts whose address and port are one of them is the proxy talking to
 * itself: a destination whose name resolves to the proxy's own listener. The
 * accept loop closes it at once (`reason="loop"`), so a loop costs one
 * connection per redial, not a flood. `Tcp.open` keeps the records.
 */
const own = globalValue(Symbol.for("socket-proxy/OwnConnections"), () => ({ open: new Set<string>(), dialling: 0 }))

/** IPv4 clients of a dual-stack listener show as `::ffff:a.b.c.d`. */
export const ownKey = (address: string, port: number): string =>
  `${address.toLowerCase().startsWith("::ffff:") ? address.slice(7) : address.toLowerCase()} ${port}`

/** An outbound connection is being made. */
export const dialStarted = (): void => {
  own.dialling++
}

/** An outbound connection was made, or given up; `key` is its local end once made. */
export const dialEnded = (key: string | undefined): void => {
  own.dialling--
  if (key !== undefined) own.open.add(key)
}

/** An outbound connection that was made has closed. */
export const ownClosed = (key: string): void => {
  own.open.delete(key)
}

/**
 * Whether some outbound connection is still being made. The proxy may accept
 * its own connection before that connection's `connect` event has told its
 * local port (both ends become ready in the same turn of the event loop), so
 * while one is being made an accepted connection is checked again a turn later.
 */
export const diallingOwnConnections = (): boolean => own.dialling > 0

/** Whether a peer at `address:port` is one of the proxy's own outbound connections. */
export const isOwnConnection = (address: string | undefined, port: number | undefined): boolean =>
  address !== undefined && port !== undefined && own.open.has(ownKey(address, port))

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
const host = (address: string): string =>
  address.toLowerCase().startsWith("::ffff:") ? address.slice(7) : address.toLowerCase()

/**
 * A connection by both its ends: the kernel gives one local port to several
 * outbound connections that go to different places, so a source that happens to
 * connect from a port one of ours also uses is not a loop. Only a connection whose
 * two ends are those of one of ours, swapped, is the proxy talking to itself.
 */
export const ownKey = (localAddress: string, localPort: number, remoteAddress: string, remotePort: number): string =>
  `${host(localAddress)} ${localPort} ${host(remoteAddress)} ${remotePort}`

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

/** Whether an accepted connection (its peer's end, and its own) is one of the proxy's own outbound connections. */
export const isOwnConnection = (socket: {
  readonly remoteAddress?: string | undefined
  readonly remotePort?: number | undefined
  readonly localAddress?: string | undefined
  readonly localPort?: number | undefined
}): boolean =>
  socket.remoteAddress !== undefined && socket.remotePort !== undefined && socket.localAddress !== undefined &&
  socket.localPort !== undefined &&
  own.open.has(ownKey(socket.remoteAddress, socket.remotePort, socket.localAddress, socket.localPort))

import { globalValue } from "effect/GlobalValue"
import type * as net from "node:net"

/*
 * The local ends (address and port) of the proxy's own outbound connections
 * that are open now, over every proxy of the process. A source the proxy
 * accepts whose address and port are one of them is the proxy talking to
 * itself: a destination whose name resolves to the proxy's own listener. The
 * accept loop closes it at once (`reason="loop"`), so a loop costs one
 * connection per redial, not a flood.
 */
const own = globalValue(Symbol.for("socket-proxy/OwnConnections"), () => ({ open: new Set<string>(), dialling: 0 }))

/** IPv4 clients of a dual-stack listener show as `::ffff:a.b.c.d`. */
const key = (address: string, port: number): string =>
  `${address.toLowerCase().startsWith("::ffff:") ? address.slice(7) : address.toLowerCase()} ${port}`

/** Records `socket`'s local end once it is connected, until it closes. Call it right after `net.connect`. */
export const trackOwnConnection = (socket: net.Socket): void => {
  let recorded: string | undefined
  let dialling = true
  own.dialling++
  const dialled = () => {
    if (dialling) own.dialling--
    dialling = false
  }
  socket.once("connect", () => {
    dialled()
    if (socket.localAddress !== undefined && socket.localPort !== undefined) {
      recorded = key(socket.localAddress, socket.localPort)
      own.open.add(recorded)
    }
  })
  socket.once("close", () => {
    dialled()
    if (recorded !== undefined) own.open.delete(recorded)
  })
}

/**
 * Whether some outbound connection is still being made. The proxy may accept
 * its own connection before that connection's `connect` event has told its
 * local port (both ends become ready in the same turn of the event loop), so
 * while one is being made the accept loop checks again a turn later.
 */
export const diallingOwnConnections = (): boolean => own.dialling > 0

/** Whether a peer at `address:port` is one of the proxy's own outbound connections. */
export const isOwnConnection = (address: string | undefined, port: number | undefined): boolean =>
  address !== undefined && port !== undefined && own.open.has(key(address, port))

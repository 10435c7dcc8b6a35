import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect } from "effect"
import * as net from "node:net"
import * as Tcp from "../src/Proxy/DataPath/Tcp.js"
import { loopback } from "./support/Peers.js"
import { resetSocket } from "./support/Reset.js"

/**
 * libuv refuses a reset while a half-close is under way (`uv_tcp_close_reset` returns
 * EINVAL) and then never closes the handle. Node's `end()` starts the half-close at once,
 * so `end()` followed by a reset is that window, every time.
 */

/** A server whose accepted sockets read and ignore everything; `onSocket` sees each as well. */
const server = (onSocket: (socket: net.Socket) => void = () => {}) =>
  Effect.acquireRelease(
    Effect.async<net.Server>((resume) => {
      const server = net.createServer((socket) => {
        socket.on("data", () => {})
        socket.on("error", () => {})
        onSocket(socket)
      })
      server.listen(0, loopback, () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.sync(() => server.close())
  )

const quietServer = server()

const portOf = (server: net.Server) => (server.address() as net.AddressInfo).port

const connected = (socket: net.Socket) =>
  Effect.async<void>((resume) => {
    socket.once("connect", () => resume(Effect.void))
  })

describe("closing a socket with a reset while it half-closes", () => {
  it.scopedLive("the proxy's outbound connection still closes (no leaked descriptor)", () =>
    Effect.gen(function*() {
      const server = yield* quietServer
      const up = yield* Deferred.make<Tcp.OutboundConnection>()
      const connection = Tcp.open({ host: loopback, port: portOf(server) }, {
        onConnect: (connection) => Deferred.unsafeDone(up, Effect.succeed(connection)),
        onLost: () => {},
        onWritten: () => {}
      })
      yield* Deferred.await(up)
      const closed = yield* Deferred.make<void>()
      connection.socket.once("close", () => Deferred.unsafeDone(closed, Effect.void))
      connection.finish()
      connection.reset()
      yield* Deferred.await(closed).pipe(Effect.timeout(Duration.seconds(5)))
      expect(connection.socket.destroyed).toBe(true)
    }))

  it.scopedLive("the test peers' reset helper still closes the socket", () =>
    Effect.gen(function*() {
      const server = yield* quietServer
      const socket = net.connect(portOf(server), loopback)
      socket.on("error", () => {})
      yield* connected(socket)
      const closed = yield* Deferred.make<void>()
      socket.once("close", () => Deferred.unsafeDone(closed, Effect.void))
      socket.end()
      resetSocket(socket)
      yield* Deferred.await(closed).pipe(Effect.timeout(Duration.seconds(5)))
    }))

  it.scopedLive("a socket that was not half-closed is still reset (the peer sees ECONNRESET)", () =>
    Effect.gen(function*() {
      const peerError = yield* Deferred.make<string>()
      const accepted = yield* Deferred.make<void>()
      const listening = yield* server((socket) => {
        socket.on(
          "error",
          (error: NodeJS.ErrnoException) => Deferred.unsafeDone(peerError, Effect.succeed(error.code ?? error.message))
        )
        socket.on("end", () => Deferred.unsafeDone(peerError, Effect.succeed("clean end")))
        Deferred.unsafeDone(accepted, Effect.void)
      })
      const socket = net.connect(portOf(listening), loopback)
      socket.on("error", () => {})
      yield* connected(socket)
      yield* Deferred.await(accepted)
      resetSocket(socket)
      expect(yield* Deferred.await(peerError).pipe(Effect.timeout(Duration.seconds(5)))).toBe("ECONNRESET")
    }))
})

/**
 * Real TCP peers for tests, on plain `node:net` (independent of the proxy's own
 * socket module), with event-driven waits: `until(predicate)` completes at the
 * first socket event after which the predicate holds.
 */
import { Duration, Effect } from "effect"
import type { Scope } from "effect"
import * as net from "node:net"
import { Condition } from "./Condition.js"
import { resetSocket } from "./Reset.js"

export const loopback = "127.0.0.1"

/** Waits for `predicate`, re-checked on every event of `condition`; fails the test after `within`. */
const until =
  (condition: Condition, what: string) =>
  (predicate: () => boolean, within: Duration.DurationInput = Duration.seconds(10)) =>
    condition.waitUntil(predicate).pipe(
      Effect.timeoutFail({
        duration: within,
        onTimeout: () => new Error(`timed out after ${Duration.format(Duration.decode(within))} waiting for ${what}`)
      }),
      Effect.orDie
    )

export interface ReceivedConnection {
  readonly socket: net.Socket
  readonly chunks: Array<Buffer>
  bytes: number
  /** The proxy half-closed (FIN) this connection. */
  ended: boolean
  closed: boolean
  /** Everything received so far, in order. */
  readonly data: () => Buffer
}

export interface TestDestination {
  readonly host: string
  readonly port: number
  readonly endpoint: { readonly host: string; readonly port: number }
  readonly connections: Array<ReceivedConnection>
  readonly totalBytes: () => number
  readonly until: (predicate: () => boolean, within?: Duration.DurationInput) => Effect.Effect<void>
  /** Stops listening and resets every open connection: the destination "dies". */
  readonly kill: Effect.Effect<void>
  /** A stalled destination starts reading, on its open connections and on every later one. */
  readonly release: Effect.Effect<void>
}

export interface TestDestinationOptions {
  readonly host?: string
  /** 0 (default) picks a free port; a known port lets a test bring a destination "back". */
  readonly port?: number
  /** Accept connections but never read from them: a stalled consumer. */
  readonly stalled?: boolean
  /** Pause this long after every chunk read: a consumer slower than the source. */
  readonly pauseAfterEachRead?: Duration.DurationInput
  /** Bytes to send back on every new connection, which the proxy must discard. */
  readonly reply?: Buffer
}

/** A destination that records, per connection, every byte it receives. */
export const destination = (options: TestDestinationOptions = {}): Effect.Effect<TestDestination, never, Scope.Scope> =>
  Effect.gen(function*() {
    const host = options.host ?? loopback
    const changed = new Condition()
    const connections: Array<ReceivedConnection> = []
    let stalled = options.stalled === true
    const server = yield* Effect.acquireRelease(
      Effect.async<net.Server>((resume) => {
        const server = net.createServer({ pauseOnConnect: true }, (socket) => {
          const connection: ReceivedConnection = {
            socket,
            chunks: [],
            bytes: 0,
            ended: false,
            closed: false,
            data: () => Buffer.concat(connection.chunks)
          }
          connections.push(connection)
          socket.on("data", (chunk: Buffer) => {
            connection.chunks.push(chunk)
            connection.bytes += chunk.length
            changed.notify()
            if (options.pauseAfterEachRead !== undefined) {
              socket.pause()
              setTimeout(() => socket.resume(), Duration.toMillis(Duration.decode(options.pauseAfterEachRead)))
            }
          })
          socket.on("end", () => {
            connection.ended = true
            changed.notify()
          })
          socket.on("error", () => {})
          socket.on("close", () => {
            connection.closed = true
            changed.notify()
          })
          if (options.reply !== undefined) socket.write(options.reply)
          if (!stalled) socket.resume()
          changed.notify()
        })
        server.listen({ host, port: options.port ?? 0 }, () => resume(Effect.succeed(server)))
      }),
      (server) => Effect.sync(() => destroyServer(server, connections))
    )
    const port = (server.address() as net.AddressInfo).port
    return {
      host,
      port,
      endpoint: { host, port },
      connections,
      totalBytes: () => connections.reduce((sum, c) => sum + c.bytes, 0),
      until: until(changed, `destination ${host}:${port}`),
      kill: Effect.sync(() => destroyServer(server, connections)),
      release: Effect.sync(() => {
        stalled = false
        for (const connection of connections) connection.socket.resume()
      })
    }
  })

const destroyServer = (server: net.Server, connections: ReadonlyArray<ReceivedConnection>) => {
  server.close()
  for (const connection of connections) resetSocket(connection.socket)
}

export interface TestSource {
  readonly socket: net.Socket
  /** Writes and waits until the kernel has taken the bytes. */
  readonly write: (data: Buffer | string) => Effect.Effect<void>
  /** Half-closes: EOF after everything written. */
  readonly end: Effect.Effect<void>
  readonly isClosed: () => boolean
  readonly until: (predicate: () => boolean, within?: Duration.DurationInput) => Effect.Effect<void>
}

/** A source connected to `port`; the scope destroys it. */
export const source = (port: number, host: string = loopback): Effect.Effect<TestSource, never, Scope.Scope> =>
  Effect.gen(function*() {
    const changed = new Condition()
    let closed = false
    const socket = yield* Effect.acquireRelease(
      Effect.async<net.Socket>((resume) => {
        const socket = net.connect({ host, port }, () => resume(Effect.succeed(socket)))
        socket.on("error", (error) => resume(Effect.die(error)))
      }),
      (socket) => Effect.sync(() => socket.destroy())
    )
    socket.on("data", () => {})
    socket.on("close", () => {
      closed = true
      changed.notify()
    })
    return {
      socket,
      write: (data) =>
        Effect.async<void>((resume) => {
          socket.write(data, (error) => resume(error ? Effect.die(error) : Effect.void))
        }),
      end: Effect.sync(() => {
        socket.end()
      }),
      isClosed: () => closed,
      until: until(changed, `source to port ${port}`)
    }
  })

/** A port that was free a moment ago: for a destination that is down now and comes up later. */
export const freePort = (host: string = loopback): Effect.Effect<number> =>
  Effect.async<number>((resume) => {
    const server = net.createServer()
    server.listen({ host, port: 0 }, () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resume(Effect.succeed(port)))
    })
  })

/** `count` bytes of a deterministic pattern, so any gap, repeat or reordering shows. */
export const pattern = (count: number, seed = 1): Buffer => {
  const buffer = Buffer.alloc(count)
  let state = seed >>> 0
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    buffer[i] = state >>> 24
  }
  return buffer
}

/** Whether a connection attempt to `host:port` is refused (nothing listens there). */
export const refusesConnections = (port: number, host: string = loopback): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = net.connect({ host, port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(false))
    })
    socket.once("error", () => resume(Effect.succeed(true)))
  })

/**
 * All socket I/O of socket-proxy lives here, over `node:net`, so the rest of the
 * code sees only Effects: a listener whose sockets are closed with its scope,
 * inbound connections read with backpressure, and outbound connections written
 * one batch at a time. (A move to a pull-based socket API touches this file only.)
 */
import { Chunk, Deferred, Duration, Effect, Exit, Mailbox, Queue, Scope } from "effect"
import * as dns from "node:dns"
import * as net from "node:net"
import type { Endpoint, ListenAddress } from "./Endpoint.js"
import { formatEndpoint } from "./Endpoint.js"
import { ConnectError, ConnectionLost, ListenError } from "./Errors.js"
import { trackOwnConnection } from "./OwnConnections.js"

/** Idle time before the first keep-alive probe; Node then probes every 1 s, 10 times. */
export const keepAliveInitialDelay = Duration.seconds(15)

/** Received-but-unread bytes per inbound socket before it is paused. */
const readHighWaterMark = 256 * 1024

/**
 * Connections the kernel may hold for us before we accept them. Node's default
 * (511) is too small for thousands of sources reconnecting at once after a
 * restart; the kernel caps it at net.core.somaxconn.
 */
const listenBacklog = 4096

/** How long a finished outbound connection waits for the peer's FIN before it is closed. */
const lingerAfterEnd = Duration.millis(500)

const socketOptions = {
  noDelay: true,
  keepAlive: true,
  keepAliveInitialDelay: Duration.toMillis(keepAliveInitialDelay)
} as const

const errorCodeReasons: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by peer",
  EPIPE: "connection closed by peer",
  ETIMEDOUT: "timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ENOTFOUND: "host name not found",
  EAI_AGAIN: "host name lookup failed (temporary)",
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "address not available on this machine",
  EACCES: "permission denied (ports below 1024 need privileges)",
  EMFILE: "too many open files",
  ERR_STREAM_DESTROYED: "connection closed",
  ERR_SOCKET_CLOSED: "connection closed"
}

const errorCode = (error: unknown): string =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
    ? error.code
    : "UNKNOWN"

/** A short reason such as `connection refused (ECONNREFUSED)`, for logs and errors. */
export const describeSocketError = (error: unknown): string => {
  // autoSelectFamily reports one error per address it tried.
  if (error instanceof AggregateError && error.errors.length > 0) {
    return [...new Set(error.errors.map(describeSocketError))].join("; ")
  }
  const code = errorCode(error)
  const reason = errorCodeReasons[code]
  if (reason !== undefined) return `${reason} (${code})`
  return error instanceof Error ? error.message : String(error)
}

/** `host:port` of a socket's peer; IPv4-mapped IPv6 addresses are shown as IPv4. */
export const peerOf = (socket: net.Socket): string => {
  const address = socket.remoteAddress ?? "unknown"
  const host = address.startsWith("::ffff:") && net.isIPv4(address.slice(7)) ? address.slice(7) : address
  return formatEndpoint({ host, port: socket.remotePort ?? 0 })
}

const loopbackAddresses: ReadonlyArray<dns.LookupAddress> = [
  { address: "127.0.0.1", family: 4 },
  { address: "::1", family: 6 }
]

const isLocalhost = (host: string): boolean => {
  const name = host.toLowerCase().replace(/\.$/, "")
  return name === "localhost" || name.endsWith(".localhost")
}

/**
 * `localhost` must reach a destination on 127.0.0.1 as well as one on ::1, yet
 * many hosts files map it to only one of them. Offer both loopback addresses
 * (after whatever the resolver said) and let Node's happy eyeballs pick the one
 * that answers.
 */
const lookupWithBothLoopbacks: net.LookupFunction = (hostname, options, callback) => {
  if (!isLocalhost(hostname)) {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error !== null || options.all === true) callback(error, addresses)
      else callback(null, addresses[0]?.address ?? "", addresses[0]?.family)
    })
    return
  }
  dns.lookup(hostname, { all: true }, (error, found) => {
    const resolved = error === null ? found : []
    const addresses = [
      ...resolved,
      ...loopbackAddresses.filter((loopback) => !resolved.some((a) => a.address === loopback.address))
    ].filter((a) => options.family === undefined || options.family === 0 || a.family === options.family)
    const first = addresses[0] ?? loopbackAddresses[0]!
    if (options.all === true) callback(null, addresses)
    else callback(null, first.address, first.family)
  })
}

// ---------------------------------------------------------------------------
// Listening

type Accepted =
  | { readonly _tag: "Socket"; readonly socket: net.Socket }
  | { readonly _tag: "Error"; readonly reason: string }

export interface TcpListener {
  /** The address actually bound (the real port when 0 was asked for). */
  readonly address: { readonly host: string; readonly port: number }
  /** Waits for the next accepted socket, or an accept error to log. */
  readonly accept: Effect.Effect<Accepted>
  /** Closes the listening socket; accepted sockets stay open until the scope closes. */
  readonly stopAccepting: Effect.Effect<void>
}

/**
 * Listens on `address`. Closing the scope stops accepting and destroys every
 * socket this listener accepted that is still open, whoever holds it.
 */
export const listen = (address: ListenAddress): Effect.Effect<TcpListener, ListenError, Scope.Scope> =>
  Effect.gen(function*() {
    const accepted = yield* Effect.acquireRelease(
      Queue.unbounded<Accepted>(),
      (queue) =>
        Effect.flatMap(Queue.takeAll(queue), (items) =>
          Effect.sync(() => {
            for (const item of items) if (item._tag === "Socket") item.socket.destroy()
          })).pipe(Effect.zipRight(Queue.shutdown(queue)))
    )
    const open = new Set<net.Socket>()
    const server = yield* Effect.acquireRelease(
      Effect.async<net.Server, ListenError>((resume) => {
        const server = net.createServer({ ...socketOptions, pauseOnConnect: true })
        const onListenError = (error: Error) => {
          server.close()
          resume(Effect.fail(
            new ListenError({
              address: formatEndpoint(address),
              code: errorCode(error),
              reason: describeSocketError(error)
            })
          ))
        }
        server.once("error", onListenError)
        server.on("connection", (socket) => {
          // Errors before a session takes the socket must not crash the process.
          socket.on("error", () => {})
          open.add(socket)
          socket.once("close", () => open.delete(socket))
          Queue.unsafeOffer(accepted, { _tag: "Socket", socket })
        })
        server.listen({ host: address.host, port: address.port, backlog: listenBacklog }, () => {
          server.off("error", onListenError)
          // After startup the server reports accept failures (such as EMFILE) here.
          server.on("error", (error) => Queue.unsafeOffer(accepted, { _tag: "Error", reason: describeSocketError(error) }))
          resume(Effect.succeed(server))
        })
      }),
      (server) =>
        Effect.sync(() => {
          server.close(() => {})
          for (const socket of open) socket.destroy()
        })
    )
    const bound = server.address() as net.AddressInfo
    return {
      address: { host: bound.address, port: bound.port },
      accept: Queue.take(accepted),
      stopAccepting: Effect.sync(() => {
        server.close(() => {})
      })
    }
  })

// ---------------------------------------------------------------------------
// Inbound connections (sources)

export interface InboundConnection {
  readonly peer: string
  readonly socket: net.Socket
  /**
   * Waits for received data. `done` is true once the peer has sent EOF (the
   * chunks are then the last ones). Fails when the socket breaks, but only
   * after everything received before the failure has been read.
   */
  readonly read: Effect.Effect<readonly [chunks: ReadonlyArray<Uint8Array>, done: boolean], ConnectionLost>
  /** Stops reading and closes the socket; safe to repeat. */
  readonly close: Effect.Effect<void>
}

/** Starts reading an accepted socket; the scope closes it. */
export const inbound = (socket: net.Socket): Effect.Effect<InboundConnection, never, Scope.Scope> =>
  Effect.gen(function*() {
    const peer = peerOf(socket)
    const close = Effect.sync(() => {
      socket.destroy()
    })
    yield* Effect.addFinalizer(() => close)
    const received = yield* Mailbox.make<Uint8Array, ConnectionLost>()
    let unread = 0
    socket.on("data", (chunk: Buffer) => {
      unread += chunk.length
      received.unsafeOffer(chunk)
      // Backpressure: let the kernel hold the rest until the proxy catches up.
      if (unread >= readHighWaterMark) socket.pause()
    })
    socket.on("end", () => received.unsafeDone(Exit.void))
    socket.on("error", (error) =>
      received.unsafeDone(Exit.fail(new ConnectionLost({ peer, reason: describeSocketError(error) }))))
    socket.on("close", () => received.unsafeDone(Exit.void))
    if (socket.destroyed) received.unsafeDone(Exit.void)
    socket.resume()
    const read = Effect.map(received.takeAll, ([chunks, done]) => {
      const list = Chunk.toReadonlyArray(chunks)
      for (const chunk of list) unread -= chunk.length
      if (unread < readHighWaterMark && socket.isPaused() && !socket.destroyed) socket.resume()
      return [list, done] as const
    })
    return { peer, socket, read, close }
  })

/** What a source's socket reports to whoever reads it with `inboundStream`. */
export interface InboundHandlers {
  /** Called for every chunk received, in order, synchronously from the socket's event. */
  readonly onData: (chunk: Uint8Array) => void
  /**
   * Called once, after the last `onData`: on EOF or close with no failure, or
   * with the failure of a socket that broke (everything received before it was
   * passed to `onData` first).
   */
  readonly onEnd: (failure: ConnectionLost | undefined) => void
}

export interface InboundStream {
  readonly peer: string
  readonly socket: net.Socket
  /** Stops taking data from the kernel (backpressure), until `resume`. */
  readonly pause: () => void
  readonly resume: () => void
  /** Stops reading and closes the socket; safe to repeat. */
  readonly close: Effect.Effect<void>
}

/**
 * Starts reading an accepted socket, handing each chunk to `handlers` as it
 * arrives: no queue and no fiber between the socket and the reader, because
 * this is the hot path. The scope closes the socket.
 */
export const inboundStream = (
  socket: net.Socket,
  handlers: InboundHandlers
): Effect.Effect<InboundStream, never, Scope.Scope> =>
  Effect.gen(function*() {
    const peer = peerOf(socket)
    const close = Effect.sync(() => {
      socket.destroy()
    })
    yield* Effect.addFinalizer(() => close)
    let ended = false
    const end = (failure: ConnectionLost | undefined) => {
      if (ended) return
      ended = true
      handlers.onEnd(failure)
    }
    socket.on("data", handlers.onData)
    socket.on("end", () => end(undefined))
    socket.on("error", (error) => end(new ConnectionLost({ peer, reason: describeSocketError(error) })))
    socket.on("close", () => end(undefined))
    if (socket.destroyed) end(undefined)
    else socket.resume()
    return {
      peer,
      socket,
      pause: () => {
        socket.pause()
      },
      resume: () => {
        if (!socket.destroyed) socket.resume()
      },
      close
    }
  })

// ---------------------------------------------------------------------------
// Outbound connections (destinations)

export interface OutboundConnection {
  readonly peer: string
  readonly socket: net.Socket
  /** Writes the chunks in order; completes once the kernel has taken all of them. */
  readonly write: (chunks: ReadonlyArray<Uint8Array>) => Effect.Effect<void, ConnectionLost>
  /**
   * The hot-path form of `write`, with no Effect per chunk: hands the chunks to
   * the socket as one corked batch (a single writev) and calls `done` once the
   * kernel has taken all of them, or with the failure if the connection broke.
   */
  readonly send: (chunks: ReadonlyArray<Uint8Array>, done: (failure: ConnectionLost | undefined) => void) => void
  /**
   * True while the socket holds written bytes the kernel has not taken: right
   * after `send`, false means the kernel took them all at once (`done` follows
   * on the next tick), true means the destination is pushing back.
   */
  readonly pushingBack: () => boolean
  /** Why the connection broke (peer closed, reset, error), once it has; undefined while it is sound. */
  readonly failure: () => ConnectionLost | undefined
  /** Calls `listener` once, when the connection breaks. */
  readonly onFailure: (listener: () => void) => void
  /**
   * Fails when the peer closes, resets or errors. Whatever the peer sends is
   * read and discarded, so its replies never fill a buffer.
   */
  readonly lost: Effect.Effect<never, ConnectionLost>
  /** Half-closes after the pending writes and gives the peer a moment to close too. */
  readonly finish: Effect.Effect<void>
}

/**
 * Connects to `endpoint` within `timeout`, trying every address its name
 * resolves to. The scope closes the socket.
 */
export const connect = (
  endpoint: Endpoint,
  timeout: Duration.Duration
): Effect.Effect<OutboundConnection, ConnectError, Scope.Scope> =>
  Effect.gen(function*() {
    const destination = formatEndpoint(endpoint)
    const connected = yield* Deferred.make<void, ConnectError>()
    const lost = yield* Deferred.make<never, ConnectionLost>()
    let failure: ConnectionLost | undefined
    const failureListeners: Array<() => void> = []
    const fail = (reason: string) => {
      Deferred.unsafeDone(connected, Effect.fail(new ConnectError({ destination, reason })))
      if (failure !== undefined) return
      failure = new ConnectionLost({ peer: destination, reason })
      Deferred.unsafeDone(lost, Effect.fail(failure))
      for (const listener of failureListeners.splice(0)) listener()
    }
    const socket = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const socket = net.connect({
          host: endpoint.host,
          port: endpoint.port,
          lookup: lookupWithBothLoopbacks,
          autoSelectFamily: true,
          ...socketOptions
        })
        trackOwnConnection(socket)
        socket.once("connect", () => Deferred.unsafeDone(connected, Effect.void))
        socket.on("data", () => {})
        socket.on("error", (error) => fail(describeSocketError(error)))
        socket.on("end", () => fail("closed by peer"))
        socket.on("close", () => fail("connection closed"))
        return socket
      }),
      (socket) => Effect.sync(() => socket.destroy())
    )
    yield* Deferred.await(connected).pipe(
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () => new ConnectError({ destination, reason: `no answer within ${Duration.format(timeout)}` })
      })
    )
    const send = (chunks: ReadonlyArray<Uint8Array>, done: (failure: ConnectionLost | undefined) => void) => {
      if (!socket.writable) {
        done(failure ?? new ConnectionLost({ peer: destination, reason: "connection closed" }))
        return
      }
      // One corked batch becomes a single writev; its last callback covers them all.
      const last = chunks.length - 1
      if (last > 0) socket.cork()
      for (let i = 0; i < last; i++) socket.write(chunks[i]!)
      socket.write(chunks[last]!, (error) => {
        done(
          error === null || error === undefined
            ? undefined
            : new ConnectionLost({ peer: destination, reason: describeSocketError(error) })
        )
      })
      if (last > 0) socket.uncork()
    }
    const write = (chunks: ReadonlyArray<Uint8Array>) =>
      Effect.async<void, ConnectionLost>((resume) => {
        send(chunks, (failure) => resume(failure === undefined ? Effect.void : Effect.fail(failure)))
      })
    const finish = Effect.async<void>((resume) => {
      if (socket.destroyed) return resume(Effect.void)
      const onClose = () => resume(Effect.void)
      socket.once("close", onClose)
      socket.end()
      return Effect.sync(() => socket.off("close", onClose))
    }).pipe(Effect.timeoutOption(lingerAfterEnd), Effect.asVoid)
    return {
      peer: peerOf(socket),
      socket,
      write,
      send,
      failure: () => failure,
      pushingBack: () => socket.writableLength > 0,
      onFailure: (listener: () => void) => {
        if (failure !== undefined) listener()
        else failureListeners.push(listener)
      },
      lost: Deferred.await(lost),
      finish
    }
  })

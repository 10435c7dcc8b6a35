/**
 * All socket I/O of socket-proxy lives here, over `node:net`, one API per
 * direction: a listener whose sockets are closed with its scope; inbound
 * connections that hand each chunk to a callback as it arrives, with pause and
 * resume for backpressure; outbound connections written one corked batch at a
 * time, whose events are callbacks too. The bytes go through callbacks because
 * this is the hot path; `connect` wraps an outbound connection as a scoped
 * Effect for the fakes and the tests.
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as dns from "node:dns"
import * as net from "node:net"
import * as tls from "node:tls"
import type { Endpoint, ListenAddress } from "../Settings/Endpoint.js"
import { formatEndpoint } from "../Settings/Endpoint.js"
import { ConnectError, ConnectionLost, ListenError } from "../Errors.js"
import { dialEnded, dialStarted, ownClosed, ownKey } from "../Edges/OwnConnections.js"

/** Idle time before the first keep-alive probe; Node then probes every 1 s, 10 times. */
export const keepAliveInitialDelay = Duration.seconds(15)

/**
 * Connections the kernel may hold for us before we accept them. Node's default
 * (511) is too small for thousands of sources reconnecting at once after a
 * restart; the kernel caps it at net.core.somaxconn.
 */
const listenBacklog = 4096

/** How long a finished outbound connection waits for the peer's FIN before it is closed. */
export const lingerAfterEnd = Duration.millis(500)

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
  ERR_SOCKET_CLOSED: "connection closed",
  // TLS (issue 12): what an operator needs to fix, in words.
  CERT_HAS_EXPIRED: "certificate has expired",
  CERT_NOT_YET_VALID: "certificate is not yet valid",
  ERR_TLS_CERT_ALTNAME_INVALID: "hostname does not match the certificate",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "certificate not signed by a trusted CA",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "certificate not signed by a trusted CA",
  UNABLE_TO_GET_ISSUER_CERT: "certificate not signed by a trusted CA",
  SELF_SIGNED_CERT_IN_CHAIN: "certificate not signed by a trusted CA (self-signed in the chain)",
  DEPTH_ZERO_SELF_SIGNED_CERT: "certificate not signed by a trusted CA (self-signed)",
  ERR_SSL_WRONG_VERSION_NUMBER: "the peer does not speak TLS",
  ERR_SSL_PACKET_LENGTH_TOO_LONG: "the peer does not speak TLS",
  ERR_SSL_HTTP_REQUEST: "the peer does not speak TLS (it sent HTTP)",
  ERR_SSL_NO_SHARED_CIPHER: "no TLS cipher in common",
  ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE: "no client certificate (mutual TLS requires one)",
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: "the peer requires a client certificate",
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: "the peer refused our certificate",
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: "the peer does not trust our certificate's CA",
  ERR_TLS_HANDSHAKE_TIMEOUT: "TLS handshake timed out"
}

/** Whether a socket error is the TLS handshake's or certificate's, not the network's. */
export const isTlsError = (error: unknown): boolean => {
  const code = errorCode(error)
  return code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_") || code.startsWith("CERT_") ||
    code.startsWith("UNABLE_TO_") || code.endsWith("_SELF_SIGNED_CERT") || code === "SELF_SIGNED_CERT_IN_CHAIN"
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
          server.on(
            "error",
            (error) => Queue.unsafeOffer(accepted, { _tag: "Error", reason: describeSocketError(error) })
          )
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
//
// Sockets are wrapped in small classes whose listeners are module-level functions
// (the socket is `this`): thousands of connections, so no closures per socket.

/** What an inbound socket reports to whoever reads it. */
export interface InboundHandlers {
  /** Every chunk received, in order, synchronously from the socket's event. */
  readonly onData: (chunk: Uint8Array) => void
  /**
   * Called once, after the last `onData`: on EOF or close with no failure, or
   * with the failure of a socket that broke (everything received before it was
   * passed to `onData` first).
   */
  onEnd(failure: ConnectionLost | undefined): void
}

const wrapper = Symbol("socket-proxy/connection")
type Wrapped<A> = net.Socket & { [wrapper]?: A }

export class InboundConnection {
  private ended = false

  constructor(readonly socket: net.Socket, readonly peer: string, private readonly handlers: InboundHandlers) {}

  /** Stops taking data from the kernel (backpressure), until `resume`. */
  pause(): void {
    this.socket.pause()
  }

  resume(): void {
    if (!this.socket.destroyed) this.socket.resume()
  }

  /** Stops reading and closes the socket; safe to repeat. */
  close(): void {
    this.socket.destroy()
  }

  /** @internal */
  end(failure: ConnectionLost | undefined): void {
    if (this.ended) return
    this.ended = true
    this.handlers.onEnd(failure)
  }
}

function inboundOf(socket: net.Socket): InboundConnection {
  return (socket as Wrapped<InboundConnection>)[wrapper]!
}
function onInboundEnd(this: net.Socket): void {
  inboundOf(this).end(undefined)
}
function onInboundError(this: net.Socket, error: Error): void {
  const connection = inboundOf(this)
  connection.end(new ConnectionLost({ peer: connection.peer, reason: describeSocketError(error) }))
}

/**
 * Starts reading an accepted socket, handing each chunk to `handlers` as it
 * arrives: no queue and no fiber between the socket and the reader. The caller
 * closes it.
 */
export const inbound = (socket: net.Socket, handlers: InboundHandlers): InboundConnection => {
  const connection = new InboundConnection(socket, peerOf(socket), handlers)
  ;(socket as Wrapped<InboundConnection>)[wrapper] = connection
  socket.on("data", handlers.onData)
  socket.on("end", onInboundEnd)
  socket.on("error", onInboundError)
  socket.on("close", onInboundEnd)
  if (socket.destroyed) connection.end(undefined)
  else socket.resume()
  return connection
}

// ---------------------------------------------------------------------------
// Outbound connections (destinations)

/** What an outbound connection reports to whoever opened it. */
export interface OutboundHandlers {
  onConnect(connection: OutboundConnection): void
  /** The attempt failed, or the connection broke or was closed (by the peer or by `close`); once. */
  onLost(connection: OutboundConnection, reason: string): void
  /** The last `send` completed: the kernel took all of it, or the connection broke (`failure`). */
  onWritten(connection: OutboundConnection, failure: string | undefined): void
}

/**
 * Replies from destinations are read into this one buffer and thrown away: no
 * allocation per reply, whoever sends them.
 */
const discardedReplies = Buffer.allocUnsafe(16 * 1024)
const discardReplies = { buffer: discardedReplies, callback: () => true }

export class OutboundConnection {
  private lost = false
  /** A `tls://` connection that failed in its handshake or on its certificate (counted apart). */
  failedHandshake = false
  /** Still being made: counted as such in `OwnConnections` (only the proxy's own connections are). */
  private dialling: boolean
  /** Its local end once made, as recorded in `OwnConnections`. */
  private ownEnd: string | undefined = undefined
  /** Passed to every write: one function per connection, not one per write. */
  private readonly afterWrite = (error: Error | null | undefined): void =>
    this.handlers.onWritten(this, error === null || error === undefined ? undefined : describeSocketError(error))

  constructor(
    readonly socket: net.Socket,
    private readonly handlers: OutboundHandlers,
    /** One of the proxy's own connections to a destination, recorded for the self-loop check. */
    private readonly own: boolean
  ) {
    this.dialling = own
  }

  /**
   * Hands the chunks to the socket as one corked batch (a single writev);
   * `onWritten` follows once the kernel has taken all of them.
   */
  send(chunks: ReadonlyArray<Uint8Array>): void {
    const socket = this.socket
    if (!socket.writable) {
      this.handlers.onWritten(this, "connection closed")
      return
    }
    const last = chunks.length - 1
    if (last > 0) socket.cork()
    for (let i = 0; i < last; i++) socket.write(chunks[i]!)
    socket.write(chunks[last]!, this.afterWrite)
    if (last > 0) socket.uncork()
  }

  /** Writes what the connection begins with (a PROXY header): before the first `send`, so ahead of it. */
  sendPreamble(bytes: Uint8Array): void {
    if (this.socket.writable) this.socket.write(bytes)
  }

  /**
   * True while the socket holds written bytes the kernel has not taken: right
   * after `send`, false means the kernel took them all at once (`onWritten`
   * follows on the next tick), true means the destination is pushing back.
   */
  pushingBack(): boolean {
    return this.socket.writableLength > 0
  }

  /** Half-closes after the pending writes; `onLost` follows once the peer closes too. */
  finish(): void {
    this.socket.end()
  }

  /** Closes the socket at once; safe to repeat. */
  close(): void {
    this.socket.destroy()
  }

  /**
   * Closes the socket at once with a reset (RST), so the peer sees no clean end; safe to
   * repeat. Once a FIN is on its way the end is clean anyway, and libuv refuses a reset
   * while a half-close is under way (EINVAL) and then never closes the descriptor: such a
   * socket is just destroyed.
   */
  reset(): void {
    const socket = this.socket
    if (socket.destroyed) return
    if (socket.connecting || socket.writableEnded || socket.readyState === "closed") socket.destroy()
    else socket.resetAndDestroy()
  }

  /** @internal */
  connected(): void {
    const { localAddress, localPort, remoteAddress, remotePort } = this.socket
    if (
      this.own && localAddress !== undefined && localPort !== undefined && remoteAddress !== undefined &&
      remotePort !== undefined
    ) {
      this.ownEnd = ownKey(localAddress, localPort, remoteAddress, remotePort)
    }
    this.dialled()
    this.handlers.onConnect(this)
  }

  /** @internal */
  fail(reason: string): void {
    if (this.lost) return
    this.lost = true
    this.dialled()
    if (this.ownEnd !== undefined) ownClosed(this.ownEnd)
    this.handlers.onLost(this, reason)
  }

  private dialled(): void {
    if (!this.dialling) return
    this.dialling = false
    dialEnded(this.lost ? undefined : this.ownEnd)
  }
}

function outboundOf(socket: net.Socket): OutboundConnection {
  return (socket as Wrapped<OutboundConnection>)[wrapper]!
}
function onOutboundConnect(this: net.Socket): void {
  outboundOf(this).connected()
}
function onOutboundError(this: net.Socket, error: Error): void {
  const connection = outboundOf(this)
  if (isTlsError(error)) connection.failedHandshake = true
  connection.fail(describeSocketError(error))
}
function onOutboundEnd(this: net.Socket): void {
  outboundOf(this).fail("closed by peer")
}
function onOutboundClose(this: net.Socket): void {
  outboundOf(this).fail("connection closed")
}

/**
 * Starts connecting to `endpoint`, trying every address its name resolves to;
 * the caller times the attempt and closes the connection. `own`: a connection of
 * the proxy to a destination, which the self-loop check must know (not one of the
 * fakes' or the tests', which may share the process with a proxy, as in the demo).
 */
export const open = (
  endpoint: Endpoint,
  handlers: OutboundHandlers,
  own = false,
  /** A `tls://` destination: connected once the handshake is done and its certificate verified. */
  secure?: tls.ConnectionOptions
): OutboundConnection => {
  const socket = secure === undefined
    ? net.connect({
      host: endpoint.host,
      port: endpoint.port,
      lookup: lookupWithBothLoopbacks,
      autoSelectFamily: true,
      onread: discardReplies,
      ...socketOptions
    })
    : openTls(endpoint, secure)
  if (own) dialStarted()
  const connection = new OutboundConnection(socket, handlers, own)
  ;(socket as Wrapped<OutboundConnection>)[wrapper] = connection
  socket.once(secure === undefined ? "connect" : "secureConnect", onOutboundConnect)
  socket.on("error", onOutboundError)
  socket.on("end", onOutboundEnd)
  socket.on("close", onOutboundClose)
  return connection
}

/** Replies over TLS come decrypted, as chunks: read and dropped (`onread` is for plain sockets only). */
function discardReply(): void {}

const openTls = (endpoint: Endpoint, secure: tls.ConnectionOptions): tls.TLSSocket => {
  // tls.connect hands these to the TCP connect (its types leave out `autoSelectFamily`).
  const options: tls.ConnectionOptions & Pick<net.TcpNetConnectOpts, "autoSelectFamily"> = {
    host: endpoint.host,
    port: endpoint.port,
    lookup: lookupWithBothLoopbacks,
    autoSelectFamily: true,
    ...secure
  }
  const socket = tls.connect(options)
  socket.setNoDelay(socketOptions.noDelay)
  socket.setKeepAlive(socketOptions.keepAlive, socketOptions.keepAliveInitialDelay)
  socket.on("data", discardReply)
  return socket
}

/** An outbound connection as the fakes and the tests use it. */
export interface ConnectedSocket {
  readonly peer: string
  readonly socket: net.Socket
  /** Writes the chunks in order; completes once the kernel has taken all of them. One write at a time. */
  readonly write: (chunks: ReadonlyArray<Uint8Array>) => Effect.Effect<void, ConnectionLost>
  /** Fails when the peer closes, resets or errors. */
  readonly lost: Effect.Effect<never, ConnectionLost>
}

/**
 * Connects to `endpoint` within `timeout`; the scope closes the socket. With
 * `secure`, over TLS: connected once the handshake is done and the certificate
 * verified; a handshake failure says so in its reason.
 */
export const connect = (
  endpoint: Endpoint,
  timeout: Duration.Duration,
  secure?: tls.ConnectionOptions
): Effect.Effect<ConnectedSocket, ConnectError, Scope.Scope> =>
  Effect.gen(function*() {
    const destination = formatEndpoint(endpoint)
    const connected = yield* Deferred.make<void, ConnectError>()
    const lost = yield* Deferred.make<never, ConnectionLost>()
    let written: ((failure: string | undefined) => void) | undefined
    const connection = yield* Effect.acquireRelease(
      Effect.sync(() =>
        open(
          endpoint,
          {
            onConnect: () => Deferred.unsafeDone(connected, Effect.void),
            onLost: (connection, lostReason) => {
              const reason = connection.failedHandshake ? `TLS handshake failed: ${lostReason}` : lostReason
              Deferred.unsafeDone(connected, Effect.fail(new ConnectError({ destination, reason })))
              Deferred.unsafeDone(lost, Effect.fail(new ConnectionLost({ peer: destination, reason })))
            },
            onWritten: (_, failure) => written?.(failure)
          },
          false,
          secure
        )
      ),
      (connection) => Effect.sync(() => connection.close())
    )
    yield* Deferred.await(connected).pipe(
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () => new ConnectError({ destination, reason: `no answer within ${Duration.format(timeout)}` })
      })
    )
    const write = (chunks: ReadonlyArray<Uint8Array>) =>
      Effect.async<void, ConnectionLost>((resume) => {
        written = (failure) => {
          written = undefined
          resume(
            failure === undefined
              ? Effect.void
              : Effect.fail(new ConnectionLost({ peer: destination, reason: failure }))
          )
        }
        connection.send(chunks)
      })
    return { peer: peerOf(connection.socket), socket: connection.socket, write, lost: Deferred.await(lost) }
  })

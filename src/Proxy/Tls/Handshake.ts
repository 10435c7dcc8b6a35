import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as net from "node:net"
import * as tls from "node:tls"
import { describeSocketError } from "../DataPath/Tcp.js"
import type { ListenerTls } from "./Certificates.js"

/** How long a source has to complete its TLS handshake before it is refused. */
export const handshakeTimeout = Duration.seconds(10)

export type HandshakeOutcome =
  | { readonly _tag: "Secure"; readonly socket: tls.TLSSocket }
  | { readonly _tag: "Failed"; readonly reason: string }

const failed = (reason: string): HandshakeOutcome => ({ _tag: "Failed", reason })

/** Why the handshake's client certificate is not accepted (mutual TLS), if it is not. */
const clientRefusal = (socket: tls.TLSSocket): string | undefined => {
  if (socket.authorized) return undefined
  const certificate = socket.getPeerCertificate()
  if (Object.keys(certificate).length === 0) return "no client certificate (--tls-client-ca requires one)"
  const code = String(socket.authorizationError)
  return `client certificate not accepted: ${describeSocketError(Object.assign(new Error(code), { code }))}`
}

type Settle = (outcome: HandshakeOutcome) => void

/**
 * A `tls.Server` that never listens: each accepted socket is handed to it
 * (`emit("connection")`), because only a socket a `tls.Server` accepted itself
 * gets its client certificate verified (`authorized`); a bare server `TLSSocket`
 * does not. One per certificate set, made when first needed.
 */
class Acceptor {
  readonly pending = new Map<net.Socket, Settle>()
  readonly server: tls.Server

  constructor(material: ListenerTls) {
    this.server = tls.createServer({
      cert: material.cert,
      key: material.key,
      ...(material.clientCa === undefined ? {} : { ca: [...material.clientCa] }),
      requestCert: material.requestClientCertificate,
      // Checked on "secureConnection", so the refusal can name the reason.
      rejectUnauthorized: false,
      // A backstop: the Effect's own timeout (the Clock's) comes first.
      handshakeTimeout: Duration.toMillis(handshakeTimeout) + 5000
    })
    this.server.on("secureConnection", (secure: tls.TLSSocket) => {
      // Errors after the handshake are the session's; until it takes the socket, they must not crash the process.
      secure.on("error", ignore)
      const settle = this.pending.get(parentOf(secure))
      if (settle === undefined) return secure.destroy()
      const refusal = material.requestClientCertificate ? clientRefusal(secure) : undefined
      settle(refusal === undefined ? { _tag: "Secure", socket: secure } : failed(refusal))
    })
    this.server.on("tlsClientError", (error: Error, secure: tls.TLSSocket) => {
      this.pending.get(parentOf(secure))?.(failed(describeSocketError(error)))
    })
  }
}

/** The accepted socket a server `TLSSocket` wraps (Node keeps it as `_parent`). */
const parentOf = (secure: tls.TLSSocket): net.Socket => (secure as unknown as { readonly _parent: net.Socket })._parent

const acceptors = new WeakMap<ListenerTls, Acceptor>()

const acceptorOf = (material: ListenerTls): Acceptor => {
  let acceptor = acceptors.get(material)
  if (acceptor === undefined) {
    acceptor = new Acceptor(material)
    acceptors.set(material, acceptor)
  }
  return acceptor
}

/**
 * The server side of a source's TLS handshake, over the accepted socket (after
 * its PROXY header, if any). Nothing is forwarded and no destination dialled
 * before it is done; with `--tls-client-ca` the source's certificate must verify.
 * Within `timeout` (the Clock's) or it fails.
 */
export const serverHandshake = (
  socket: net.Socket,
  material: ListenerTls,
  timeout: Duration.Duration = handshakeTimeout
): Effect.Effect<HandshakeOutcome> =>
  Effect.async<HandshakeOutcome>((resume) => {
    const acceptor = acceptorOf(material)
    const settle: Settle = (outcome) => {
      detach()
      resume(Effect.succeed(outcome))
    }
    const onClose = () => settle(failed("the connection closed during the TLS handshake"))
    const detach = () => {
      acceptor.pending.delete(socket)
      socket.off("close", onClose)
    }
    acceptor.pending.set(socket, settle)
    socket.on("close", onClose)
    acceptor.server.emit("connection", socket)
    return Effect.sync(detach)
  }).pipe(
    Effect.timeoutTo({
      duration: timeout,
      onSuccess: (outcome) => outcome,
      onTimeout: () => failed(`no TLS handshake within ${Duration.format(timeout)}`)
    })
  )

function ignore(): void {}

/** When a TLS peer's certificate expires, in Unix seconds; undefined for a plain socket. */
export const peerCertificateExpiry = (socket: net.Socket): number | undefined => {
  if (!(socket instanceof tls.TLSSocket)) return undefined
  const validTo = socket.getPeerCertificate().valid_to
  const at = validTo === undefined ? NaN : Date.parse(validTo)
  return Number.isFinite(at) ? Math.floor(at / 1000) : undefined
}

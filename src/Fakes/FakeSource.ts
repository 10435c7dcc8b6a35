import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as tls from "node:tls"
import type { Endpoint } from "../Proxy/Settings/Endpoint.js"
import { formatEndpoint } from "../Proxy/Settings/Endpoint.js"
import type { MessageFraming } from "../Proxy/Framing/Framing.js"
import * as Tcp from "../Proxy/DataPath/Tcp.js"
import { numberedMessage } from "./Numbered.js"
import { preview } from "./Preview.js"

export interface FakeSourceOptions {
  readonly target: Endpoint
  /** Time between two messages. */
  readonly interval: Duration.Duration
  /** Random characters per message (a newline follows each). */
  readonly size: number
  /** Log each message at debug level instead of info (the demo prints a table instead). */
  readonly quiet?: boolean
  /**
   * Numbered messages of random sizes (1 to twice `size` characters) in this
   * framing, each sent in two writes cut at a random point, half an `interval`
   * apart, as a feed's messages come over TCP.
   */
  readonly framing?: MessageFraming | undefined
  /**
   * Connect with TLS: how the proxy's certificate is verified and what this
   * source shows (`tlsOptions` builds them). A failed handshake is logged with
   * its reason and retried, like a refused connection.
   */
  readonly tls?: tls.ConnectionOptions | undefined
}

/** What the TLS connection of `fake-source --tls` is verified against and shows. */
export interface FakeSourceTls {
  /** PEM of each CA to verify the proxy's certificate against; undefined: the system's CAs. */
  readonly ca: ReadonlyArray<string> | undefined
  /** PEM of the client certificate (and its chain) and its key, for a proxy with --tls-client-ca. */
  readonly cert: string | undefined
  readonly key: string | undefined
  /** The name the proxy's certificate must be for: sent as SNI, unless it is an IP address (checked, not sent). */
  readonly servername: string | undefined
}

/**
 * The options of `tls.connect` for `material`. An IP address is not a valid SNI
 * name (RFC 6066; Node warns), so one is not sent: the certificate is checked
 * against it instead, as it is for a `--host` that is an IP address.
 */
export const tlsOptions = (material: FakeSourceTls): tls.ConnectionOptions => {
  const name = material.servername
  const isIp = name !== undefined && (/^[\d.]+$/.test(name) || name.includes(":"))
  return {
    rejectUnauthorized: true,
    ...(material.ca === undefined ? {} : { ca: [...material.ca] }),
    ...(material.cert === undefined ? {} : { cert: material.cert }),
    ...(material.key === undefined ? {} : { key: material.key }),
    ...(name === undefined
      ? {}
      : isIp
      ? { checkServerIdentity: (_host, certificate) => tls.checkServerIdentity(name, certificate) }
      : { servername: name })
  }
}

/** How long to wait before connecting again after a failure, like the old fake_source. */
export const reconnectDelay = Duration.seconds(2)

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

const randomMessage = (size: number): Uint8Array => {
  const bytes = new Uint8Array(size + 1)
  for (let i = 0; i < size; i++) bytes[i] = alphabet.charCodeAt(Math.floor(Math.random() * alphabet.length))
  bytes[size] = 0x0a
  return bytes
}

/** "TLSv1.3, certificate of CN=localhost": what a TLS connection was made with, for its log line. */
const describeSecure = (socket: tls.TLSSocket): string => {
  const subject = socket.getPeerCertificate().subject as Record<string, string | ReadonlyArray<string>> | undefined
  const cn = subject?.["CN"]
  return `${socket.getProtocol() ?? "TLS"}, certificate${cn === undefined ? "" : ` of CN=${String(cn)}`} verified`
}

/**
 * Connects to `target` and sends a random line every `interval`; when it cannot
 * connect or loses the connection, it tries again after about 2 s. Runs until interrupted.
 */
export const run = (options: FakeSourceOptions): Effect.Effect<never> => {
  const target = formatEndpoint(options.target)
  const log = options.quiet === true ? Effect.logDebug : Effect.logInfo
  const session = Effect.gen(function*() {
    const secure = options.tls
    const connection = yield* Tcp.connect(options.target, Duration.seconds(3), secure)
    yield* Effect.logInfo(
      connection.socket instanceof tls.TLSSocket
        ? `connected to ${target} over TLS (${describeSecure(connection.socket)})`
        : `connected to ${target}`
    )
    const framing = options.framing
    let n = 0
    const sendForever = Effect.forever(
      framing === undefined
        ? Effect.gen(function*() {
          const message = randomMessage(options.size)
          yield* connection.write([message])
          yield* log(`sent ${message.length} B ${preview(message)}`)
          yield* Effect.sleep(options.interval)
        })
        : Effect.gen(function*() {
          const message = numberedMessage(framing, ++n, 1 + Math.floor(Math.random() * 2 * options.size))
          const cut = 1 + Math.floor(Math.random() * (message.length - 1))
          const half = Duration.times(options.interval, 0.5)
          yield* connection.write([message.subarray(0, cut)])
          yield* Effect.sleep(half)
          yield* connection.write([message.subarray(cut)])
          yield* log(`sent message #${n}, ${message.length} B in two writes (${cut} B, then the rest)`)
          yield* Effect.sleep(half)
        })
    )
    return yield* Effect.raceFirst(sendForever, connection.lost)
  }).pipe(Effect.scoped)
  return Effect.forever(
    session.pipe(
      Effect.catchAll((error) =>
        Effect.logWarning(`${error.message}; retrying in ${Duration.format(reconnectDelay)}`).pipe(
          Effect.zipRight(Effect.sleep(reconnectDelay))
        )
      )
    )
  )
}

import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { isIP } from "node:net"
import { parseEndpoint, parseListenAddress } from "../Proxy/Settings/Endpoint.js"
import { parseFraming } from "../Proxy/Framing/Framing.js"
import { InvalidConfig } from "../Proxy/Errors.js"
import { parseByteSize, parseDuration } from "../Proxy/Settings/Units.js"
import type { CertificateError } from "../Proxy/Tls/Certificates.js"
import { loadDestinationTls, loadListenerTls } from "../Proxy/Tls/Certificates.js"
import { demoOptions, destinationOptions, sourceOptions } from "./FakeHelp.js"
import { withLogLevel } from "./LogLevelOption.js"
import { singles, textOptions } from "./OptionValues.js"

/** A certificate file that cannot be used: exit 2, one line naming the flag, the file and the problem. */
const invalidFile = (error: CertificateError) =>
  new InvalidConfig({ setting: error.setting, value: error.file, reason: error.problem })

/** One of a pair of flags given without the other (`--tls-cert` without `--tls-key`). */
const needsPartner = (flag: string, file: string, partner: string) =>
  Effect.fail(new InvalidConfig({ setting: `--${flag}`, value: file, reason: `needs --${partner} as well` }))

/** Decodes a flag's text with one of the proxy's parsers, failing with the flag's name. */
const decodeFlag = <A>(flag: string, text: string, parse: (text: string) => Either.Either<A, string>) =>
  Either.match(parse(text), {
    onLeft: (reason) => Effect.fail(new InvalidConfig({ setting: `--${flag}`, value: text, reason })),
    onRight: Effect.succeed
  })

const parsePort = (lowest: number) => (text: string): Either.Either<number, string> =>
  /^\d+$/.test(text.trim()) && Number(text.trim()) >= lowest && Number(text.trim()) <= 65535
    ? Either.right(Number(text.trim()))
    : Either.left(`expected a port number, ${lowest}-65535`)

const positiveInteger = (text: string): Either.Either<number, string> =>
  Either.filterOrLeft(
    parseByteSize(text),
    (n) => n >= 1 && /^\d+$/.test(text.trim()),
    () => "expected a whole number of at least 1"
  )

/** `--framing` of a fake: none, or the framing of its numbered messages. */
const fakeFraming = (text: string | undefined) =>
  Effect.map(decodeFlag("framing", text ?? "none", parseFraming), (framing) => framing === "none" ? undefined : framing)

export const fakeSourceCommand = Command.make(
  "fake-source",
  { values: textOptions(sourceOptions) },
  ({ values }) =>
    Effect.flatMap(singles(sourceOptions, values), (options) =>
      Effect.gen(function*() {
        const port = yield* decodeFlag("port", options.port ?? "8000", parsePort(1))
        const host = options.host ?? "127.0.0.1"
        const target = yield* decodeFlag("host", `${host.includes(":") ? `[${host}]` : host}:${port}`, parseEndpoint)
        const interval = yield* decodeFlag("interval", options.interval ?? "1s", parseDuration)
        const size = yield* decodeFlag("size", options.size ?? "16", positiveInteger)
        const framing = yield* fakeFraming(options.framing)
        const secure = yield* sourceTls(options, host)
        const over = secure === undefined ? "" : ` over TLS${describeSourceTls(options, host)}`
        yield* Effect.logInfo(
          framing === undefined
            ? `sending ${size} random characters and a newline every ${
              options.interval ?? "1s"
            } to ${host}:${port}${over}`
            : `sending a numbered ${framing} message every ${
              options.interval ?? "1s"
            }, in two writes, to ${host}:${port}${over}`
        )
        // Loaded only to run it: the fakes are not needed for --help or a bad flag.
        const FakeSource = yield* Effect.promise(() => import("../Fakes/FakeSource.js"))
        return yield* FakeSource.run({
          target,
          interval,
          size,
          framing,
          tls: secure === undefined ? undefined : FakeSource.tlsOptions(secure)
        })
      }).pipe(withLogLevel(options.logLevel)))
)

type SourceTlsFlags = Readonly<
  Record<"tls" | "tlsCa" | "tlsCert" | "tlsKey" | "tlsServername", string | undefined>
>

/** The name the proxy's certificate is checked for: --tls-servername, else --host unless it is an IP address. */
const servernameOf = (options: SourceTlsFlags, host: string): string | undefined =>
  options.tlsServername ?? (isIP(host) === 0 ? host : undefined)

/** ": verified against cert.pem for localhost, showing client.pem": the TLS part of the first log line. */
const describeSourceTls = (options: SourceTlsFlags, host: string): string => {
  const name = servernameOf(options, host) ?? host
  return ` (the proxy's certificate verified against ${options.tlsCa ?? "the system's CAs"} for ${name}${
    options.tlsCert === undefined ? "" : `, showing ${options.tlsCert}`
  })`
}

/**
 * fake-source's TLS flags, the files read and checked now (exit 2 naming the
 * flag and the file); undefined for clear TCP. Any --tls-* flag implies --tls.
 */
const sourceTls = (options: SourceTlsFlags, host: string) =>
  Effect.gen(function*() {
    const wanted = options.tls !== undefined || options.tlsCa !== undefined || options.tlsCert !== undefined ||
      options.tlsKey !== undefined || options.tlsServername !== undefined
    if (!wanted) return undefined
    if (options.tlsServername !== undefined && options.tlsServername.trim() === "") {
      return yield* Effect.fail(
        new InvalidConfig({ setting: "--tls-servername", value: options.tlsServername, reason: "expected a host name" })
      )
    }
    const files = { ca: options.tlsCa, cert: options.tlsCert, key: options.tlsKey }
    const material = yield* loadDestinationTls(files, { ca: "--tls-ca", cert: "--tls-cert", key: "--tls-key" }).pipe(
      Effect.mapError(invalidFile)
    )
    return { ca: material.ca, cert: material.cert, key: material.key, servername: servernameOf(options, host) }
  })

/** fake-destination's certificate, read and checked now (exit 2 naming the flag and the file); undefined: clear TCP. */
const destinationTls = (options: Readonly<Record<"tlsCert" | "tlsKey", string | undefined>>) => {
  const { tlsCert: cert, tlsKey: key } = options
  if (cert === undefined)
    return key === undefined
      ? Effect.succeed(undefined)
      : needsPartner("tls-key", key, "tls-cert")
  if (key === undefined) return needsPartner("tls-cert", cert, "tls-key")
  return Effect.mapError(loadListenerTls({ cert, key, clientCa: undefined }), invalidFile)
}

export const fakeDestinationCommand = Command.make(
  "fake-destination",
  { values: textOptions(destinationOptions) },
  ({ values }) =>
    Effect.flatMap(singles(destinationOptions, values), (options) =>
      Effect.gen(function*() {
        const port = yield* decodeFlag("port", options.port ?? "8080", parsePort(0))
        const host = options.host
        const text = host === undefined ? String(port) : `${host.includes(":") ? `[${host}]` : host}:${port}`
        const listen = yield* decodeFlag("host", text, parseListenAddress)
        const framing = yield* fakeFraming(options.framing)
        const tls = yield* destinationTls(options)
        const FakeDestination = yield* Effect.promise(() => import("../Fakes/FakeDestination.js"))
        return yield* FakeDestination.run({ listen, framing, tls })
      }).pipe(withLogLevel(options.logLevel)))
)

export const demoCommand = Command.make(
  "demo",
  { values: textOptions(demoOptions) },
  ({ values }) =>
    Effect.flatMap(
      singles(demoOptions, values),
      (options) =>
        Effect.flatMap(Effect.promise(() => import("../Fakes/Demo.js")), (Demo) =>
          Demo.run.pipe(withLogLevel(options.logLevel)))
    )
)

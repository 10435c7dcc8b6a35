import { Command } from "@effect/cli"
import { Effect, Either } from "effect"
import { isIP } from "node:net"
import { parseEndpoint, parseListenAddress } from "../Proxy/Settings/Endpoint.js"
import { parseFraming } from "../Proxy/Framing/Framing.js"
import { InvalidConfig } from "../Proxy/Errors.js"
import { durationSpelling, parseByteSize, parseDuration } from "../Proxy/Settings/Units.js"
import type { CertificateError } from "../Proxy/Tls/Certificates.js"
import { loadDestinationTls, loadListenerTls } from "../Proxy/Tls/Certificates.js"
import type { CommandHelp } from "./Help.js"
import { withLogLevel } from "./LogLevelOption.js"
import type { OptionSpec } from "./OptionSpec.js"
import { settingOption, singles, textOptions } from "./OptionSpec.js"

const option = (flag: string, metavar: string, help: string, defaultText: string): OptionSpec => ({
  flag,
  metavar,
  help,
  defaultText,
  env: undefined,
  repeatable: false
})

/** A flag without a value (given: on). */
const switchOption = (flag: string, help: string): OptionSpec => ({
  flag,
  metavar: undefined,
  help,
  defaultText: "off",
  env: undefined,
  repeatable: false
})

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

const logLevel = settingOption("logLevel", {
  help: "The least severe log lines printed: trace, debug, info, warning (or warn), error or none."
})

const sourceOptions = {
  port: option("port", "PORT", "The port to connect to.", "8000"),
  host: option("host", "HOST", "The host to connect to.", "127.0.0.1"),
  interval: option("interval", "DURATION", `Time between two lines: ${durationSpelling}.`, "1s"),
  size: option("size", "N", "Random characters per line (a newline follows each).", "16"),
  framing: option(
    "framing",
    "FRAMING",
    "lines, u16be or u32be: send numbered messages (#N and 1 to 2x --size random characters) in that framing, " +
      "each in two writes cut at a random point, half an --interval apart.",
    "none"
  ),
  tls: switchOption(
    "tls",
    "Connect with TLS, verifying the proxy's certificate against the system's CAs (for a proxy with --tls-cert). " +
      "A failed handshake is logged with its reason and retried like a refused connection."
  ),
  tlsCa: option(
    "tls-ca",
    "FILE",
    "Verify the proxy's certificate against the CAs in this file (PEM) instead of the system's. Implies --tls.",
    "the system's CAs"
  ),
  tlsCert: option(
    "tls-cert",
    "FILE",
    "Present this client certificate (PEM; the file may hold the chain), for a proxy with --tls-client-ca. " +
      "With --tls-key. Implies --tls.",
    "none"
  ),
  tlsKey: option("tls-key", "FILE", "The private key of --tls-cert (PEM, unencrypted).", "none"),
  tlsServername: option(
    "tls-servername",
    "NAME",
    "The name the proxy's certificate must be for, sent as SNI. An IP address (such as the default --host) is " +
      "not sent: the certificate must hold that address. Implies --tls.",
    "--host"
  ),
  logLevel
}

/** `--framing` of a fake: none, or the framing of its numbered messages. */
const fakeFraming = (text: string | undefined) =>
  Effect.map(decodeFlag("framing", text ?? "none", parseFraming), (framing) => framing === "none" ? undefined : framing)

export const fakeSourceHelp: CommandHelp = {
  name: "fake-source",
  summary:
    "Connect to HOST:PORT and send a line of --size random characters every --interval; reconnect about every 2 s when it cannot connect or is cut off.",
  usage: [
    "[--port PORT] [--host HOST] [--interval DURATION] [--size N] [--framing lines|u16be|u32be]",
    "... --tls|--tls-ca FILE [--tls-servername NAME] [--tls-cert FILE --tls-key FILE]"
  ],
  options: Object.values(sourceOptions),
  notes: []
}

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

const destinationOptions = {
  port: option("port", "PORT", "The port to listen on; 0 lets the OS choose (the log says which).", "8080"),
  host: option("host", "HOST", "The address to listen on.", "every interface"),
  framing: option(
    "framing",
    "FRAMING",
    "lines, u16be or u32be: check each connection's messages (as fake-source --framing sends them), log each " +
      "one as whole or not, and how many were whole when the connection ends.",
    "none"
  ),
  tlsCert: option(
    "tls-cert",
    "FILE",
    "Accept TLS connections only, with this certificate (PEM; the file may hold the chain). With --tls-key. " +
      "A connection whose handshake fails is logged with the reason and closed.",
    "off"
  ),
  tlsKey: option("tls-key", "FILE", "The private key of --tls-cert (PEM, unencrypted).", "none"),
  logLevel
}

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

export const fakeDestinationHelp: CommandHelp = {
  name: "fake-destination",
  summary: "Accept any number of connections and log what each receives: a preview and a running byte count.",
  usage: ["[--port PORT] [--host HOST] [--framing lines|u16be|u32be] [--tls-cert FILE --tls-key FILE]"],
  options: Object.values(destinationOptions),
  notes: []
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

const demoOptions = { logLevel }

export const demoHelp: CommandHelp = {
  name: "demo",
  summary: "Two fake destinations, two fake sources (a line every 1s) and the proxy in one process, on loopback " +
    "ports the OS chooses; prints who received what every 2 s until Ctrl-C.",
  usage: [""],
  options: Object.values(demoOptions),
  notes: []
}

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

import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as LogLevel from "effect/LogLevel"
// Type only: `--help` reads this table, and effect/Schema (with fast-check under it) is the
// largest thing it would otherwise load. The file's Schema is built by ConfigFile/Schema.ts.
import type * as SchemaModule from "effect/Schema"
import type { Cidr } from "./Cidr.js"
import { parseCidrList } from "./Cidr.js"
import type { Endpoint, ListenAddress } from "./Endpoint.js"
import { parseEndpoint, parseEndpointList, parseListenAddress } from "./Endpoint.js"
import type { Framing } from "../Framing/Framing.js"
import { parseFraming } from "../Framing/Framing.js"
import type { SendVersion } from "../ProxyProtocol/Header.js"
import { formatDuration, formatSize, parseByteSize, parseDuration } from "./Units.js"

/**
 * The one table of the proxy's settings. Each is declared once here: its flag,
 * environment variable, key in the configuration file, default, parser, help
 * text, and where in the file it may stand. The command-line options
 * (`Cli/ProxyCommand.ts`), the environment reading (`Config.ts`, through Effect's
 * `Config`), the file's Schema (`ConfigFile/Schema.ts`), `--help` and the table
 * of docs/settings.md (`scripts/settings-table.ts`, checked by a test) all come from it.
 */

/** Where in the configuration file a setting may be written. */
export type Place = "top" | "route" | "destination"

export interface Setting<A> {
  /** The flag without its dashes; absent for what only the file has. */
  readonly flag: string | undefined
  /** The key in the configuration file; absent for what only the command line has. */
  readonly fileKey: string | undefined
  readonly env: string | undefined
  /** What the value looks like, in help: `DURATION`, `HOST:PORT`. */
  readonly metavar: string
  readonly help: string
  /** The default as written in help and docs: `3s`, `off`, `required`. */
  readonly defaultText: string
  readonly parse: (text: string) => Either.Either<A, string>
  /** Where in the file it may be written; a value at the top is the default of every route. */
  readonly places: ReadonlyArray<Place>
  /** A flag that may be given several times (`--dest`). */
  readonly repeatable: boolean
  /** A flag without a value (`--accept-proxy-protocol`); its env variable and file key take `true` or `false`. */
  readonly isSwitch: boolean
  /**
   * What only the file can write, as a map (`tls: { cert, key }`): its Schema, instead of `parse` of a text;
   * given the Schema module, so that reading the table does not load it.
   */
  readonly fileValue?: ((Schema: typeof SchemaModule) => SchemaModule.Schema<A, unknown>) | undefined
}

const setting = <A>(
  fields: Omit<Setting<A>, "fileKey" | "repeatable" | "env" | "flag" | "isSwitch"> & Partial<Setting<A>>
): Setting<A> => ({
  flag: undefined,
  env: undefined,
  repeatable: false,
  isSwitch: false,
  ...fields,
  fileKey: "fileKey" in fields ? fields.fileKey : fields.flag
})

const positiveDuration = (text: string) =>
  Either.filterOrLeft(
    parseDuration(text),
    (d) => Duration.greaterThan(d, Duration.zero),
    () => "must be greater than 0"
  )

const positiveInteger = (text: string): Either.Either<number, string> =>
  /^\d+$/.test(text.trim()) && Number(text.trim()) >= 1 && Number.isSafeInteger(Number(text.trim()))
    ? Either.right(Number(text.trim()))
    : Either.left("must be a whole number of at least 1")

const positiveSize = (text: string) =>
  Either.filterOrLeft(parseByteSize(text), (n) => n > 0, () => "must be at least 1 byte")

const nonEmptyDestinations = (text: string) =>
  Either.filterOrLeft(parseEndpointList(text), (list) => list.length > 0, () => "expected at least one HOST:PORT")

const logLevels: ReadonlyArray<readonly [string, LogLevel.LogLevel]> = [
  ["trace", LogLevel.Trace],
  ["debug", LogLevel.Debug],
  ["info", LogLevel.Info],
  ["warning", LogLevel.Warning],
  ["warn", LogLevel.Warning],
  ["error", LogLevel.Error],
  ["none", LogLevel.None]
]

/** `trace`, `debug`, `info`, `warning` (or `warn`), `error`, `none`, in any case. */
export const parseLogLevel = (text: string): Either.Either<LogLevel.LogLevel, string> => {
  const found = logLevels.find(([name]) => name === text.trim().toLowerCase())
  return found === undefined
    ? Either.left("expected one of trace, debug, info, warning (or warn), error, none")
    : Either.right(found[1])
}

export const logFormats = ["logfmt", "json", "pretty"] as const
export type LogFormat = (typeof logFormats)[number]

/** `logfmt`, `json` or `pretty`, in any case. */
export const parseLogFormat = (text: string): Either.Either<LogFormat, string> => {
  const format = logFormats.find((name) => name === text.trim().toLowerCase())
  return format === undefined ? Either.left(`expected one of ${logFormats.join(", ")}`) : Either.right(format)
}

const routeName = /^[a-z0-9_-]+$/

/** A route's name: `[a-z0-9_-]+`, at most 64 characters. */
export const parseRouteName = (text: string): Either.Either<string, string> =>
  routeName.test(text) && text.length <= 64
    ? Either.right(text)
    : Either.left("expected a name of lower-case letters, digits, _ and -, at most 64 characters")

/** `25%`: the share of a route's source connections forwarded to a destination, as a fraction. */
export const parseSample = (text: string): Either.Either<number, string> => {
  const match = /^(\d+(?:\.\d+)?)%$/.exec(text.trim())
  const percent = match === null ? NaN : Number(match[1])
  return match !== null && percent > 0 && percent <= 100
    ? Either.right(percent / 100)
    : Either.left("expected a percentage above 0 and at most 100, such as 25% or 0.5%")
}

const anyText = (text: string): Either.Either<string, string> =>
  text.trim().length > 0 ? Either.right(text.trim()) : Either.left("expected a file name")

/** `true` or `false` (also `yes`/`no`, `on`/`off`, `1`/`0`), in any case. */
export const parseBoolean = (text: string): Either.Either<boolean, string> => {
  const word = text.trim().toLowerCase()
  if (["true", "yes", "on", "1"].includes(word)) return Either.right(true)
  if (["false", "no", "off", "0"].includes(word)) return Either.right(false)
  return Either.left("expected true or false")
}

/** What `--send-proxy-protocol` says: a version, or `off`. */
export type SendProxyProtocol = SendVersion | "off"

/** `v1`, `v2`, or `off` (to turn off, for one route or destination, what the level above turned on). */
export const parseSendProxyProtocol = (text: string): Either.Either<SendProxyProtocol, string> => {
  const word = text.trim().toLowerCase()
  return word === "v1" || word === "v2" || word === "off" ? Either.right(word) : Either.left("expected v1, v2 or off")
}

/** A map's Schema, decoded from whatever the file holds there. */
const fromUnknown = <A, I>(
  Schema: typeof SchemaModule,
  schema: SchemaModule.Schema<A, I>
): SchemaModule.Schema<A, unknown> => Schema.compose(Schema.Unknown, schema, { strict: false })

const onlyInTheFile = (): Either.Either<never, string> => Either.left("only in the configuration file")

/** A route's `tls:` in the file. */
export interface RouteTlsEntry {
  readonly cert: string
  readonly key: string
  readonly clientCa?: string | undefined
}

/** A destination's `tls:` in the file. */
export type DestinationTlsEntry = true | {
  readonly ca?: string | undefined
  readonly cert?: string | undefined
  readonly key?: string | undefined
  readonly servername?: string | undefined
  readonly insecureSkipVerify?: boolean | undefined
}

const defaultValues = {
  connectTimeout: Duration.seconds(3),
  writeTimeout: Duration.seconds(5),
  idleTimeout: Duration.minutes(30),
  bufferBytes: 1024 * 1024,
  // Service managers wait longer than this after SIGTERM (systemd 90 s, Kubernetes 30 s) before SIGKILL.
  drainTimeout: Duration.seconds(5),
  framing: "none" as Framing,
  maxMessageBytes: 64 * 1024,
  acceptProxyProtocol: false,
  sendProxyProtocol: "off" as SendProxyProtocol
} as const

/** Every setting of the `proxy` command and of the configuration file, in the order help and docs show them. */
export const settings = {
  config: setting<string>({
    flag: "config",
    fileKey: undefined,
    env: "SOCKET_PROXY_CONFIG",
    metavar: "FILE",
    help: "Read every setting from this YAML (.yaml, .yml) or JSON (.json) file, with any number of routes, " +
      "and reload it on SIGHUP and whenever it changes. Not with --listen or --dest.",
    defaultText: "none",
    parse: anyText,
    places: []
  }),
  name: setting<string>({
    fileKey: "name",
    metavar: "NAME",
    help: "The route's name, unique: lower-case letters, digits, _ and -. In logs, and the metrics label `route`.",
    defaultText: "required",
    parse: parseRouteName,
    places: ["route"]
  }),
  listen: setting<ListenAddress>({
    flag: "listen",
    env: "SOCKET_PROXY_LISTEN_PORT",
    metavar: "PORT|HOST:PORT",
    help: "Where to accept sources: PORT binds every interface, HOST:PORT one address ([::1]:PORT for IPv6).",
    defaultText: "required",
    parse: parseListenAddress,
    places: ["route"]
  }),
  destinations: setting<ReadonlyArray<Endpoint>>({
    flag: "dest",
    fileKey: "destinations",
    env: "SOCKET_PROXY_DESTINATIONS",
    metavar: "HOST:PORT",
    help: "A destination: repeat the flag, or give a comma-separated list (\"a:1, b:2\"). " +
      "In the file, a list of HOST:PORT or of {address, buffer, write-timeout, connect-timeout, sample}.",
    defaultText: "required, at least one",
    parse: nonEmptyDestinations,
    places: ["route"],
    repeatable: true
  }),
  address: setting<Endpoint>({
    fileKey: "address",
    metavar: "HOST:PORT",
    help: "A destination's address, when it is written as a map.",
    defaultText: "required",
    parse: parseEndpoint,
    places: ["destination"]
  }),
  connectTimeout: setting<Duration.Duration>({
    flag: "connect-timeout",
    env: "SOCKET_PROXY_CONNECT_TIMEOUT",
    metavar: "DURATION",
    help: "How long one connection attempt to a destination may take.",
    defaultText: formatDuration(defaultValues.connectTimeout),
    parse: positiveDuration,
    places: ["top", "route", "destination"]
  }),
  writeTimeout: setting<Duration.Duration>({
    flag: "write-timeout",
    env: "SOCKET_PROXY_WRITE_TIMEOUT",
    metavar: "DURATION",
    help: "How long a slow or stalled destination may hold the source back before it is cut and redialled.",
    defaultText: formatDuration(defaultValues.writeTimeout),
    parse: positiveDuration,
    places: ["top", "route", "destination"]
  }),
  idleTimeout: setting<Duration.Duration>({
    flag: "idle-timeout",
    env: "SOCKET_PROXY_IDLE_TIMEOUT",
    metavar: "DURATION",
    help: "Close a source that sent nothing for this long; 0 disables.",
    defaultText: formatDuration(defaultValues.idleTimeout),
    parse: parseDuration,
    places: ["top", "route"]
  }),
  bufferBytes: setting<number>({
    flag: "buffer",
    env: "SOCKET_PROXY_BUFFER",
    metavar: "SIZE",
    help: "Bytes held per destination of each source while that destination is slow or down.",
    defaultText: formatSize(defaultValues.bufferBytes),
    parse: positiveSize,
    places: ["top", "route", "destination"]
  }),
  sample: setting<number>({
    fileKey: "sample",
    metavar: "PERCENT",
    help:
      "Forward only this share of the route's source connections to this destination (25%), each drawn independently.",
    defaultText: "100%",
    parse: parseSample,
    places: ["destination"]
  }),
  maxConnections: setting<number>({
    flag: "max-connections",
    env: "SOCKET_PROXY_MAX_CONNECTIONS",
    metavar: "N",
    help: "Sources connected at once (per route); more are closed at accept, logged and counted.",
    defaultText: "no limit",
    parse: positiveInteger,
    places: ["top", "route"]
  }),
  allow: setting<ReadonlyArray<Cidr>>({
    flag: "allow",
    env: "SOCKET_PROXY_ALLOW",
    metavar: "CIDR[,CIDR...]",
    help: "Only sources in these address blocks may connect (10.0.0.0/8, 192.168.1.7, fd00::/8); IPv4 blocks also " +
      "match IPv4-mapped IPv6 sources. Others are closed at accept, logged and counted.",
    defaultText: "everyone",
    parse: parseCidrList,
    places: ["top", "route"]
  }),
  // --- framing (issue 13)
  framing: setting<Framing>({
    flag: "framing",
    env: "SOCKET_PROXY_FRAMING",
    metavar: "FRAMING",
    help: "How the route's stream is cut into messages: none (bytes as they come), lines (each ends with \\n), " +
      "u16be or u32be (a 2- or 4-byte big-endian length, then that many bytes). With one, every destination " +
      "connection starts at a message start, and what a destination misses is whole messages.",
    defaultText: defaultValues.framing,
    parse: parseFraming,
    places: ["top", "route"]
  }),
  maxMessageBytes: setting<number>({
    flag: "max-message",
    env: "SOCKET_PROXY_MAX_MESSAGE",
    metavar: "SIZE",
    help: "With --framing: a source whose stream holds a longer message (a line without \\n for longer, a length " +
      "over it) is closed, logged and counted.",
    defaultText: formatSize(defaultValues.maxMessageBytes),
    parse: positiveSize,
    places: ["top", "route"]
  }),
  // --- end framing
  // --- PROXY protocol (issue 11)
  acceptProxyProtocol: setting<boolean>({
    flag: "accept-proxy-protocol",
    env: "SOCKET_PROXY_ACCEPT_PROXY_PROTOCOL",
    metavar: "true|false",
    help: "Every source connection must begin with a PROXY protocol header (v1 or v2), as a load balancer " +
      "sends it; its source address is the source from then on (logs, --allow, the header sent on). One " +
      "without a valid header within 5s is closed, logged and counted; a v2 LOCAL one (a health check) is " +
      "closed quietly.",
    defaultText: "off",
    parse: parseBoolean,
    places: ["top", "route"],
    isSwitch: true
  }),
  sendProxyProtocol: setting<SendProxyProtocol>({
    flag: "send-proxy-protocol",
    env: "SOCKET_PROXY_SEND_PROXY_PROTOCOL",
    metavar: "v1|v2|off",
    help: "Begin every destination connection (each reconnection too) with a PROXY protocol header of this " +
      "version naming the source and the address it connected to; off turns it off for a route or destination.",
    defaultText: "off",
    parse: parseSendProxyProtocol,
    places: ["top", "route", "destination"]
  }),
  // --- end PROXY protocol
  // --- TLS (issue 12): on the command line and in the environment; not yet in the file
  tlsCert: setting<string>({
    flag: "tls-cert",
    env: "SOCKET_PROXY_TLS_CERT",
    fileKey: undefined,
    metavar: "FILE",
    help: "Sources must speak TLS: the listener's certificate (PEM; the file may hold the chain). With --tls-key. " +
      "A source whose handshake fails, or takes over 10s, is closed before any destination is dialled, logged and " +
      "counted.",
    defaultText: "off",
    parse: anyText,
    places: []
  }),
  tlsKey: setting<string>({
    flag: "tls-key",
    env: "SOCKET_PROXY_TLS_KEY",
    fileKey: undefined,
    metavar: "FILE",
    help: "The private key (PEM, unencrypted) of --tls-cert.",
    defaultText: "off",
    parse: anyText,
    places: []
  }),
  tlsClientCa: setting<string>({
    flag: "tls-client-ca",
    env: "SOCKET_PROXY_TLS_CLIENT_CA",
    fileKey: undefined,
    metavar: "FILE",
    help: "With --tls-cert: every source must present a certificate signed by a CA in this file (mutual TLS).",
    defaultText: "off",
    parse: anyText,
    places: []
  }),
  destCa: setting<string>({
    flag: "dest-ca",
    env: "SOCKET_PROXY_DEST_CA",
    fileKey: undefined,
    metavar: "FILE",
    help: "Verify the certificates of tls:// destinations against the CAs in this file (PEM) instead of the " +
      "system's. A destination whose certificate does not verify is down, with the reason, and redialled.",
    defaultText: "the system's CAs",
    parse: anyText,
    places: []
  }),
  destCert: setting<string>({
    flag: "dest-cert",
    env: "SOCKET_PROXY_DEST_CERT",
    fileKey: undefined,
    metavar: "FILE",
    help: "A client certificate (PEM) that tls:// destinations are shown. With --dest-key.",
    defaultText: "none",
    parse: anyText,
    places: []
  }),
  destKey: setting<string>({
    flag: "dest-key",
    env: "SOCKET_PROXY_DEST_KEY",
    fileKey: undefined,
    metavar: "FILE",
    help: "The private key (PEM, unencrypted) of --dest-cert.",
    defaultText: "none",
    parse: anyText,
    places: []
  }),
  routeTls: setting<RouteTlsEntry>({
    fileKey: "tls",
    metavar: "{cert, key, client-ca}",
    help: "In the file, what --tls-cert, --tls-key and --tls-client-ca are on the command line: the route's " +
      "listener speaks TLS (file names relative to the configuration file's folder).",
    defaultText: "off",
    parse: onlyInTheFile,
    places: ["route"],
    fileValue: (Schema) =>
      fromUnknown(
        Schema,
        Schema.Struct({
          cert: Schema.NonEmptyTrimmedString,
          key: Schema.NonEmptyTrimmedString,
          clientCa: Schema.optional(Schema.NonEmptyTrimmedString).pipe(Schema.fromKey("client-ca"))
        })
      )
  }),
  destinationTls: setting<DestinationTlsEntry>({
    fileKey: "tls",
    metavar: "true|{ca, cert, key, servername, insecure-skip-verify}",
    help: "A destination's TLS, in the file (as tls:// in its address): true verifies its certificate against the " +
      "system's CAs; a map gives its own CA file, a client certificate and key, the name to verify (servername), " +
      "or insecure-skip-verify: true, which turns verification off and is logged as a warning.",
    defaultText: "off",
    parse: onlyInTheFile,
    places: ["destination"],
    fileValue: (Schema) =>
      fromUnknown(
        Schema,
        Schema.Union(
          Schema.Literal(true),
          Schema.Struct({
            ca: Schema.optional(Schema.NonEmptyTrimmedString),
            cert: Schema.optional(Schema.NonEmptyTrimmedString),
            key: Schema.optional(Schema.NonEmptyTrimmedString),
            servername: Schema.optional(Schema.NonEmptyTrimmedString),
            insecureSkipVerify: Schema.optional(Schema.Boolean).pipe(Schema.fromKey("insecure-skip-verify"))
          })
        )
      )
  }),
  // --- end TLS
  metrics: setting<ListenAddress>({
    flag: "metrics",
    env: "SOCKET_PROXY_METRICS",
    metavar: "PORT|HOST:PORT",
    help: "Serve /metrics (Prometheus) and /healthz over HTTP here: PORT binds every interface, 127.0.0.1:PORT " +
      "loopback only. Not reloaded.",
    defaultText: "off",
    parse: parseListenAddress,
    places: ["top"]
  }),
  drainTimeout: setting<Duration.Duration>({
    flag: "drain-timeout",
    env: "SOCKET_PROXY_DRAIN_TIMEOUT",
    metavar: "DURATION",
    help: "On SIGTERM/SIGINT, or for a route removed by a reload, how long open connections get to flush before " +
      "they are closed; 0 closes at once.",
    defaultText: formatDuration(defaultValues.drainTimeout),
    parse: parseDuration,
    places: ["top"]
  }),
  logLevel: setting<LogLevel.LogLevel>({
    flag: "log-level",
    env: "SOCKET_PROXY_LOG_LEVEL",
    metavar: "LEVEL",
    help: "The least severe log lines printed: trace, debug, info, warning (or warn), error or none, in any case. " +
      "Not reloaded.",
    defaultText: "info",
    parse: parseLogLevel,
    places: ["top"]
  }),
  logFormat: setting<LogFormat>({
    flag: "log-format",
    env: "SOCKET_PROXY_LOG_FORMAT",
    metavar: "FORMAT",
    help: "How log lines are written on stdout: logfmt, json (one object per line) or pretty (for a terminal). " +
      "Not reloaded.",
    defaultText: "logfmt",
    parse: parseLogFormat,
    places: ["top"]
  })
} as const

export type SettingKey = keyof typeof settings

/** A setting's value type. */
export type SettingValue<K extends SettingKey> = (typeof settings)[K] extends Setting<infer A> ? A : never

export const settingDefaults = defaultValues

/** The `--check` switch of the proxy command: not a setting, so not in the table's file or env columns. */
export const checkSwitch = {
  flag: "check",
  help: "With --config: validate the file, print what it holds, and exit 0 (or 2 with the line saying what is wrong)."
} as const

/** How a setting is named where a value came from: `--listen`, `SOCKET_PROXY_LISTEN_PORT`. */
export const flagName = (key: SettingKey): string => `--${settings[key].flag ?? settings[key].fileKey}`

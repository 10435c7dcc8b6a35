import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { Cidr } from "./Cidr.js"
import { parseCidrList } from "./Cidr.js"
import type { Endpoint, ListenAddress } from "./Endpoint.js"
import { formatEndpoint, parseEndpointList, parseListenAddress } from "./Endpoint.js"
import { InvalidConfig, MissingConfig } from "./Errors.js"
import { selfLoop } from "./SelfLoop.js"
import { parseByteSize, parseDuration } from "./Units.js"

/** Everything the proxy needs to run, as typed values. */
export interface ProxyConfig {
  readonly listen: ListenAddress
  /** At least one; every source is forwarded to each of them. */
  readonly destinations: ReadonlyArray<Endpoint>
  /** How long one connection attempt to a destination may take. */
  readonly connectTimeout: Duration.Duration
  /**
   * How long a destination may hold the source back (a write that does not
   * complete, or a buffer that stays full) before its connection is cut and redialled.
   */
  readonly writeTimeout: Duration.Duration
  /** A source silent this long is closed; zero disables the check. */
  readonly idleTimeout: Duration.Duration
  /** Bytes held per destination of each connection, while it is slow or down. */
  readonly bufferBytes: number
  /** On shutdown, how long open connections get to flush before they are cut. */
  readonly drainTimeout: Duration.Duration
  /** Where to serve `/metrics` and `/healthz`; none by default. */
  readonly metrics: ListenAddress | undefined
  /** Source connections open at once; more are closed at accept. No limit by default. */
  readonly maxConnections: number | undefined
  /** Source addresses allowed to connect; everyone by default. */
  readonly allow: ReadonlyArray<Cidr> | undefined
}

export const defaults = {
  connectTimeout: Duration.seconds(3),
  writeTimeout: Duration.seconds(5),
  idleTimeout: Duration.minutes(30),
  bufferBytes: 1024 * 1024,
  // Service managers wait longer than this after SIGTERM (systemd 90 s, Kubernetes 30 s) before SIGKILL.
  drainTimeout: Duration.seconds(5),
  metrics: undefined,
  maxConnections: undefined,
  allow: undefined
} as const

/** Each setting's command-line flag and environment variable, for lookups and messages. */
export const settingNames = {
  listen: { flag: "--listen", env: "SOCKET_PROXY_LISTEN_PORT" },
  destinations: { flag: "--dest", env: "SOCKET_PROXY_DESTINATIONS" },
  connectTimeout: { flag: "--connect-timeout", env: "SOCKET_PROXY_CONNECT_TIMEOUT" },
  writeTimeout: { flag: "--write-timeout", env: "SOCKET_PROXY_WRITE_TIMEOUT" },
  idleTimeout: { flag: "--idle-timeout", env: "SOCKET_PROXY_IDLE_TIMEOUT" },
  bufferBytes: { flag: "--buffer", env: "SOCKET_PROXY_BUFFER" },
  metrics: { flag: "--metrics", env: "SOCKET_PROXY_METRICS" },
  maxConnections: { flag: "--max-connections", env: "SOCKET_PROXY_MAX_CONNECTIONS" },
  allow: { flag: "--allow", env: "SOCKET_PROXY_ALLOW" },
  drainTimeout: { flag: "--drain-timeout", env: "SOCKET_PROXY_DRAIN_TIMEOUT" }
} as const

type SettingKey = keyof typeof settingNames

/** Settings as the user wrote them, e.g. from command-line flags; absent ones come from the env. */
export interface ProxySettingsText {
  readonly listen?: string | undefined
  /** Each item may itself be a comma-separated list. */
  readonly destinations?: ReadonlyArray<string> | undefined
  readonly connectTimeout?: string | undefined
  readonly writeTimeout?: string | undefined
  readonly idleTimeout?: string | undefined
  readonly bufferBytes?: string | undefined
  readonly metrics?: string | undefined
  readonly maxConnections?: string | undefined
  /** A comma-separated list of address blocks. */
  readonly allow?: string | undefined
  readonly drainTimeout?: string | undefined
}

interface Given {
  readonly setting: string
  readonly text: string
}

/** The flag's value if given, else the environment variable's (through `Config`), else none. */
const lookup = (key: SettingKey, flagValue: string | undefined): Effect.Effect<Option.Option<Given>> =>
  flagValue !== undefined
    ? Effect.succeed(Option.some({ setting: settingNames[key].flag, text: flagValue }))
    : Config.option(Config.string(settingNames[key].env)).pipe(
      Effect.map(Option.filter((text) => text.trim().length > 0)),
      Effect.map(Option.map((text) => ({ setting: settingNames[key].env, text }))),
      // A ConfigProvider that cannot be read at all is a broken program, not bad input.
      Effect.orDie
    )

const decode = <A>(given: Given, parse: (text: string) => Either.Either<A, string>) =>
  Either.mapLeft(parse(given.text), (reason) => new InvalidConfig({ setting: given.setting, value: given.text, reason }))

const optionalSetting = <A>(
  key: SettingKey,
  flagValue: string | undefined,
  parse: (text: string) => Either.Either<A, string>,
  fallback: A
): Effect.Effect<A, InvalidConfig> =>
  Effect.flatMap(lookup(key, flagValue), Option.match({ onNone: () => Effect.succeed(fallback), onSome: (given) => decode(given, parse) }))

const positiveDuration = (text: string) =>
  Either.filterOrLeft(parseDuration(text), (d) => Duration.greaterThan(d, Duration.zero), () => "must be greater than 0")

const positiveInteger = (text: string): Either.Either<number, string> =>
  /^\d+$/.test(text.trim()) && Number(text.trim()) >= 1 && Number.isSafeInteger(Number(text.trim()))
    ? Either.right(Number(text.trim()))
    : Either.left("must be a whole number of at least 1")

const positiveSize = (text: string) => Either.filterOrLeft(parseByteSize(text), (n) => n > 0, () => "must be at least 1 byte")

const readListen = (flagValue: string | undefined): Effect.Effect<ListenAddress, InvalidConfig | MissingConfig> =>
  Effect.flatMap(
    lookup("listen", flagValue),
    Option.match({
      onNone: () =>
        Effect.fail<InvalidConfig | MissingConfig>(
          new MissingConfig({
            setting: "listen port",
            hint: `pass ${settingNames.listen.flag} PORT or set ${settingNames.listen.env}`
          })
        ),
      onSome: (given) => decode(given, parseListenAddress)
    })
  )

const readDestinations = (flagValues: ReadonlyArray<string> | undefined) => {
  // @effect/cli reports a repeated flag that is absent as [], so "absent" is "empty" here.
  const fromFlags = flagValues !== undefined && flagValues.length > 0
    ? Effect.succeed(Option.some(flagValues.map((text) => ({ setting: settingNames.destinations.flag, text }))))
    : Effect.map(lookup("destinations", undefined), Option.map((given) => [given]))
  const missing = new MissingConfig({
    setting: "destinations",
    hint: `pass ${settingNames.destinations.flag} HOST:PORT (repeatable) or set ${settingNames.destinations.env}="h1:p1, h2:p2"`
  })
  return Effect.flatMap(fromFlags, (given) =>
    Option.match(given, {
      onNone: () => Effect.fail(missing),
      onSome: (items) =>
        Effect.flatMap(
          Effect.forEach(items, (item) => decode(item, parseEndpointList)),
          (lists) => {
            const destinations = lists.flat()
            return destinations.length > 0 ? Effect.succeed(destinations) : Effect.fail(missing)
          }
        )
    }))
}

/**
 * Builds a `ProxyConfig` from text settings, falling back to the environment
 * (`SOCKET_PROXY_*`, read through Effect's `Config`) for each one not given,
 * then to the defaults. Flags therefore win over the environment.
 */
export const resolveProxyConfig = (
  text: ProxySettingsText = {}
): Effect.Effect<ProxyConfig, InvalidConfig | MissingConfig> =>
  Effect.all({
    listen: readListen(text.listen),
    destinations: readDestinations(text.destinations),
    connectTimeout: optionalSetting("connectTimeout", text.connectTimeout, positiveDuration, defaults.connectTimeout),
    writeTimeout: optionalSetting("writeTimeout", text.writeTimeout, positiveDuration, defaults.writeTimeout),
    idleTimeout: optionalSetting("idleTimeout", text.idleTimeout, parseDuration, defaults.idleTimeout),
    bufferBytes: optionalSetting("bufferBytes", text.bufferBytes, positiveSize, defaults.bufferBytes),
    drainTimeout: optionalSetting("drainTimeout", text.drainTimeout, parseDuration, defaults.drainTimeout),
    metrics: optionalSetting<ListenAddress | undefined>("metrics", text.metrics, parseListenAddress, undefined),
    maxConnections: optionalSetting<number | undefined>(
      "maxConnections",
      text.maxConnections,
      positiveInteger,
      undefined
    ),
    allow: optionalSetting<ReadonlyArray<Cidr> | undefined>("allow", text.allow, parseCidrList, undefined)
  }).pipe(Effect.flatMap((config) => refuseSelfLoop(config, text)))

/** A destination that is the listen address itself would loop: refused at start, naming it. */
const refuseSelfLoop = (config: ProxyConfig, text: ProxySettingsText): Effect.Effect<ProxyConfig, InvalidConfig> =>
  Either.match(selfLoop(config.listen, config.destinations), {
    onRight: () => Effect.succeed(config),
    onLeft: ({ destination, reason }) =>
      Effect.fail(
        new InvalidConfig({
          setting: text.destinations !== undefined && text.destinations.length > 0
            ? settingNames.destinations.flag
            : settingNames.destinations.env,
          value: formatEndpoint(destination),
          reason
        })
      )
  })

/** The whole configuration from the environment alone: the contract of the app this replaces. */
export const proxyConfigFromEnv: Effect.Effect<ProxyConfig, InvalidConfig | MissingConfig> = resolveProxyConfig()

/** A complete configuration from code: listen address and destinations, defaults for the rest. */
export const makeProxyConfig = (
  config: Pick<ProxyConfig, "listen" | "destinations"> & Partial<ProxyConfig>
): ProxyConfig => ({ ...defaults, ...config })

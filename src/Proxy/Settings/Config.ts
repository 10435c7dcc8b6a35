import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { Duration } from "effect"
import type { Cidr } from "./Cidr.js"
import type { Endpoint, ListenAddress } from "./Endpoint.js"
import type { Framing } from "../Framing/Framing.js"
import { formatEndpoint } from "./Endpoint.js"
import { InvalidConfig, MissingConfig } from "../Errors.js"
import { listenClash } from "../Edges/ListenClash.js"
import { selfLoop } from "../Edges/SelfLoop.js"
import type { SendProxyProtocol, SettingKey, SettingValue } from "./Settings.js"
import type { DestinationTlsFiles, ListenerTlsFiles } from "../Tls/Certificates.js"
import { loadDestinationTls, loadListenerTls } from "../Tls/Certificates.js"
import { flagName, settingDefaults, settings } from "./Settings.js"

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
  /** How the stream is cut into messages (issue 13); `none` forwards bytes as they come. */
  readonly framing: Framing
  /** With a framing: the longest message a source may send before it is closed. */
  readonly maxMessageBytes: number
  /** Every source connection begins with a PROXY protocol header, whose source is the source from then on (issue 11). */
  readonly acceptProxyProtocol: boolean
  /** The PROXY protocol header every destination connection begins with, or `off`. */
  readonly sendProxyProtocol: SendProxyProtocol
  /** The listener's TLS (issue 12): sources must speak TLS when set. */
  readonly listenerTls?: ListenerTlsFiles | undefined
  /** What `tls://` destinations are verified against and shown; the system's CAs and no client certificate when unset. */
  readonly destinationTls?: DestinationTlsFiles | undefined
  /** The route's name, in logs and as the metrics label `route`; `default` when configured by flags. */
  readonly name?: string | undefined
}

/** The route name of a proxy configured by flags or the environment. */
export const defaultRouteName = "default"

export const defaults = {
  ...settingDefaults,
  metrics: undefined,
  maxConnections: undefined,
  allow: undefined
} as const

const legacyKeys = [
  "listen",
  "destinations",
  "connectTimeout",
  "writeTimeout",
  "idleTimeout",
  "bufferBytes",
  "metrics",
  "maxConnections",
  "allow",
  "drainTimeout",
  "framing",
  "maxMessageBytes",
  "acceptProxyProtocol",
  "sendProxyProtocol",
  "tlsCert",
  "tlsKey",
  "tlsClientCa",
  "destCa",
  "destCert",
  "destKey"
] as const satisfies ReadonlyArray<SettingKey>
type LegacyKey = (typeof legacyKeys)[number]

/** Each setting's command-line flag and environment variable, for lookups and messages (from `Settings.ts`). */
export const settingNames = Object.fromEntries(
  legacyKeys.map((key) => [key, { flag: flagName(key), env: settings[key].env! }])
) as { readonly [K in LegacyKey]: { readonly flag: string; readonly env: string } }

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
  readonly framing?: string | undefined
  readonly maxMessageBytes?: string | undefined
  readonly acceptProxyProtocol?: string | undefined
  readonly sendProxyProtocol?: string | undefined
  readonly tlsCert?: string | undefined
  readonly tlsKey?: string | undefined
  readonly tlsClientCa?: string | undefined
  readonly destCa?: string | undefined
  readonly destCert?: string | undefined
  readonly destKey?: string | undefined
}

interface Given {
  readonly setting: string
  readonly text: string
}

/** The environment variable of `key`, through `Config`; blank is unset. */
export const envText = (key: SettingKey): Effect.Effect<Option.Option<Given>> => {
  const env = settings[key].env
  if (env === undefined) return Effect.succeed(Option.none())
  return Config.option(Config.string(env)).pipe(
    Effect.map(Option.filter((text) => text.trim().length > 0)),
    Effect.map(Option.map((text) => ({ setting: env, text }))),
    // A ConfigProvider that cannot be read at all is a broken program, not bad input.
    Effect.orDie
  )
}

/** The flag's value if given, else the environment variable's, else none. */
const lookup = (key: SettingKey, flagValue: string | undefined): Effect.Effect<Option.Option<Given>> =>
  flagValue !== undefined ? Effect.succeed(Option.some({ setting: flagName(key), text: flagValue })) : envText(key)

const decode = <K extends SettingKey>(key: K, given: Given): Either.Either<SettingValue<K>, InvalidConfig> =>
  Either.mapLeft(
    (settings[key].parse as (text: string) => Either.Either<SettingValue<K>, string>)(given.text),
    (reason) => new InvalidConfig({ setting: given.setting, value: given.text, reason })
  )

/** One setting from its flag, else the environment, else `fallback`, parsed by the table's parser. */
export const resolveSetting = <K extends SettingKey, B>(
  key: K,
  flagValue: string | undefined,
  fallback: B
): Effect.Effect<SettingValue<K> | B, InvalidConfig> =>
  Effect.flatMap(
    lookup(key, flagValue),
    (given): Effect.Effect<SettingValue<K> | B, InvalidConfig> =>
      Option.isNone(given) ? Effect.succeed(fallback) : decode(key, given.value)
  )

const readListen = (flagValue: string | undefined): Effect.Effect<ListenAddress, InvalidConfig | MissingConfig> =>
  Effect.flatMap(
    lookup("listen", flagValue),
    Option.match({
      onNone: () =>
        Effect.fail<InvalidConfig | MissingConfig>(
          new MissingConfig({
            setting: "listen port",
            hint: `pass ${settingNames.listen.flag} PORT, set ${settingNames.listen.env}, or give --config FILE`
          })
        ),
      onSome: (given) => decode("listen", given)
    })
  )

const readDestinations = (
  flagValues: ReadonlyArray<string> | undefined
): Effect.Effect<ReadonlyArray<Endpoint>, InvalidConfig | MissingConfig> => {
  // @effect/cli reports a repeated flag that is absent as [], so "absent" is "empty" here.
  const fromFlags = flagValues !== undefined && flagValues.length > 0
    ? Effect.succeed(Option.some(flagValues.map((text) => ({ setting: settingNames.destinations.flag, text }))))
    : Effect.map(lookup("destinations", undefined), Option.map((given) => [given]))
  const missing = new MissingConfig({
    setting: "destinations",
    hint:
      `pass ${settingNames.destinations.flag} HOST:PORT (repeatable), set ${settingNames.destinations.env}="h1:p1, h2:p2", or give --config FILE`
  })
  return Effect.flatMap(fromFlags, (given) =>
    Option.match(given, {
      onNone: () => Effect.fail<InvalidConfig | MissingConfig>(missing),
      onSome: (items): Effect.Effect<ReadonlyArray<Endpoint>, InvalidConfig | MissingConfig> => {
        // A blank item (",") says nothing: only the items with an address count.
        const meaningful = items.filter((item) => item.text.split(",").some((part) => part.trim().length > 0))
        if (meaningful.length === 0) return Effect.fail(missing)
        return Effect.map(Effect.forEach(meaningful, (item) => decode("destinations", item)), (lists) => lists.flat())
      }
    }))
}

/** `--metrics` on the `--listen` address would fail to bind with "address already in use": say why instead. */
const checkMetricsClash = (config: ProxyConfig, text: ProxySettingsText) =>
  Effect.gen(function*() {
    if (config.metrics === undefined || !listenClash(config.metrics, config.listen)) return config
    const given = yield* lookup("metrics", text.metrics)
    const listenGiven = yield* lookup("listen", text.listen)
    const metricsName = Option.match(given, { onNone: () => settingNames.metrics.flag, onSome: (g) => g.setting })
    const listenName = Option.match(listenGiven, { onNone: () => settingNames.listen.flag, onSome: (g) => g.setting })
    const value = Option.match(given, { onNone: () => "", onSome: (g) => g.text })
    return yield* new InvalidConfig({
      setting: metricsName,
      value,
      reason: `the same port as ${listenName}; the metrics need a port of their own`
    })
  })

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
    connectTimeout: resolveSetting("connectTimeout", text.connectTimeout, defaults.connectTimeout),
    writeTimeout: resolveSetting("writeTimeout", text.writeTimeout, defaults.writeTimeout),
    idleTimeout: resolveSetting("idleTimeout", text.idleTimeout, defaults.idleTimeout),
    bufferBytes: resolveSetting("bufferBytes", text.bufferBytes, defaults.bufferBytes),
    drainTimeout: resolveSetting("drainTimeout", text.drainTimeout, defaults.drainTimeout),
    metrics: resolveSetting("metrics", text.metrics, undefined),
    maxConnections: resolveSetting("maxConnections", text.maxConnections, undefined),
    allow: resolveSetting("allow", text.allow, undefined),
    framing: resolveSetting("framing", text.framing, defaults.framing),
    maxMessageBytes: resolveSetting("maxMessageBytes", text.maxMessageBytes, defaults.maxMessageBytes),
    acceptProxyProtocol: resolveSetting("acceptProxyProtocol", text.acceptProxyProtocol, defaults.acceptProxyProtocol),
    sendProxyProtocol: resolveSetting("sendProxyProtocol", text.sendProxyProtocol, defaults.sendProxyProtocol),
    listenerTls: resolveListenerTls(text),
    destinationTls: resolveDestinationTls(text)
  }).pipe(
    Effect.flatMap((config) => checkMetricsClash(config, text)),
    Effect.flatMap((config) => refuseSelfLoop(config, text))
  )

const fileOf = (given: Option.Option<Given>): string | undefined =>
  Option.match(given, { onNone: () => undefined, onSome: (g) => g.text.trim() })

const settingOf = (given: Option.Option<Given>, key: SettingKey): string =>
  Option.match(given, { onNone: () => flagName(key), onSome: (g) => g.setting })

/** A file setting that needs another: `--tls-key` without `--tls-cert`. */
const needs = (given: Given, other: SettingKey) =>
  new InvalidConfig({
    setting: given.setting,
    value: given.text,
    reason: `needs ${flagName(other)} (or ${settings[other].env}) as well`
  })

/**
 * The listener's certificate files, read and checked now (exit 2 naming the file
 * and the problem); none unless `--tls-cert` is given.
 */
const resolveListenerTls = (
  text: ProxySettingsText
): Effect.Effect<ListenerTlsFiles | undefined, InvalidConfig> =>
  Effect.gen(function*() {
    const cert = yield* lookup("tlsCert", text.tlsCert)
    const key = yield* lookup("tlsKey", text.tlsKey)
    const clientCa = yield* lookup("tlsClientCa", text.tlsClientCa)
    if (Option.isNone(cert)) {
      const alone = Option.orElse(key, () => clientCa)
      if (Option.isSome(alone)) return yield* needs(alone.value, "tlsCert")
      return undefined
    }
    if (Option.isNone(key)) return yield* needs(cert.value, "tlsKey")
    const files: ListenerTlsFiles = { cert: fileOf(cert)!, key: fileOf(key)!, clientCa: fileOf(clientCa) }
    yield* loadListenerTls(files, {
      cert: settingOf(cert, "tlsCert"),
      key: settingOf(key, "tlsKey"),
      clientCa: settingOf(clientCa, "tlsClientCa")
    }).pipe(Effect.mapError((e) => new InvalidConfig({ setting: e.setting, value: e.file, reason: e.problem })))
    return files
  })

/** What `tls://` destinations are verified against and shown, read and checked now. */
const resolveDestinationTls = (
  text: ProxySettingsText
): Effect.Effect<DestinationTlsFiles | undefined, InvalidConfig> =>
  Effect.gen(function*() {
    const ca = yield* lookup("destCa", text.destCa)
    const cert = yield* lookup("destCert", text.destCert)
    const key = yield* lookup("destKey", text.destKey)
    if (Option.isSome(cert) && Option.isNone(key)) return yield* needs(cert.value, "destKey")
    if (Option.isSome(key) && Option.isNone(cert)) return yield* needs(key.value, "destCert")
    if (Option.isNone(ca) && Option.isNone(cert)) return undefined
    const files: DestinationTlsFiles = { ca: fileOf(ca), cert: fileOf(cert), key: fileOf(key) }
    yield* loadDestinationTls(files, {
      ca: settingOf(ca, "destCa"),
      cert: settingOf(cert, "destCert"),
      key: settingOf(key, "destKey")
    }).pipe(Effect.mapError((e) => new InvalidConfig({ setting: e.setting, value: e.file, reason: e.problem })))
    return files
  })

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

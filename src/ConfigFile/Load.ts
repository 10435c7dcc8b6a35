import { FileSystem } from "@effect/platform"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { envText, resolveSetting } from "../Proxy/Settings/Config.js"
import type { InvalidConfig } from "../Proxy/Errors.js"
import { InvalidConfigFile } from "../Proxy/Errors.js"
import type { DestinationConfig, DestinationTlsSettings, RouteConfig, RoutesConfig } from "../Proxy/Routes/Routes.js"
import { loadDestinationTls, loadListenerTls } from "../Proxy/Tls/Certificates.js"
import * as nodePath from "node:path"
import type { DestinationTlsEntry, Place, SettingKey, SettingValue } from "../Proxy/Settings/Settings.js"
import { parseLogFormat, parseLogLevel, settingDefaults, settings } from "../Proxy/Settings/Settings.js"
import { describeTop, formatOf, parseText } from "./Parse.js"
import type { FileEntry, Overrides } from "./Schema.js"
import { FileSchema, knownKeys } from "./Schema.js"
import type { Problem } from "./Validate.js"
import { validate } from "./Validate.js"

/** `routes[1].destinations[0].buffer` from a Schema issue's path. */
const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.map((key, i) => (typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`)).join("")

const placeOf = (path: ReadonlyArray<PropertyKey>): Place =>
  path.length >= 5 ? "destination" : path.length >= 3 ? "route" : "top"

const decodeFile = Schema.decodeUnknownEither(FileSchema, { errors: "first", onExcessProperty: "error" })

/** The first thing the Schema found wrong, as a path and a sentence. */
const firstProblem = (error: ParseResult.ParseError): Problem => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  if (issue === undefined) return { path: "", reason: error.message }
  const path = formatPath(issue.path)
  switch (issue._tag) {
    case "Unexpected":
      return { path, reason: `unknown key; expected one of ${knownKeys(placeOf(issue.path)).join(", ")}` }
    case "Missing":
      return { path, reason: "missing: it is required here" }
    default:
      return {
        path,
        reason: issue.message.startsWith("Expected ") ? expectedAt(issue.path, issue.message) : issue.message
      }
  }
}

/** What should be at `path`, in words, for the Schema's own "Expected ..., actual ..." messages. */
const expectedAt = (path: ReadonlyArray<PropertyKey>, message: string): string => {
  const actual = /, actual (.*)$/.exec(message)?.[1]
  const got = actual === undefined ? "" : `, got ${actual}`
  const last = path.at(-1)
  const parent = path.at(-2)
  if (last === "routes") return `expected a list of routes${got}`
  if (last === "destinations") return `expected a list of destinations${got}`
  if (typeof last === "number" && parent === "destinations") return `expected HOST:PORT or a map with address${got}`
  if (typeof last === "number" && parent === "routes") return `expected a map with name, listen and destinations${got}`
  return message
}

const systemReason = (error: { readonly _tag: string; readonly reason?: string; readonly message: string }) =>
  error.reason === "NotFound"
    ? "no such file"
    : error.reason === "PermissionDenied"
    ? "permission denied"
    : error.message

/** Reads, parses and validates `file` as a whole: its entries as written, or the one problem found first. */
export const readConfigFile = (file: string): Effect.Effect<FileEntry, InvalidConfigFile, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fail = (problem: Problem) => new InvalidConfigFile({ file, path: problem.path, reason: problem.reason })
    const format = formatOf(file)
    if (format === undefined) return yield* fail({ path: "", reason: "expected a .yaml, .yml or .json file" })
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError((error) => fail({ path: "", reason: `cannot read it: ${systemReason(error)}` }))
    )
    const data = yield* Either.mapLeft(parseText(format, text), (reason) => fail({ path: "", reason }))
    const top = describeTop(data)
    if (top !== undefined) return yield* fail({ path: "", reason: top })
    const entry = yield* Either.mapLeft(decodeFile(data), (error) => fail(firstProblem(error)))
    return yield* Either.mapLeft(validate(entry), fail)
  })

/** Command-line values that win over the file, as the `proxy` command passes them (by setting key). */
export type FlagValues = Readonly<Partial<Record<SettingKey, string | undefined>>>

/** A top-level setting: the flag, else the file, else the environment, else `fallback`. */
const topValue = <K extends SettingKey, B>(
  key: K,
  flags: FlagValues,
  fromFile: SettingValue<K> | undefined,
  fallback: B
): Effect.Effect<SettingValue<K> | B, InvalidConfig> =>
  Effect.gen(function*() {
    const flag = flags[key]
    if (flag !== undefined) return yield* resolveSetting(key, flag, fallback)
    if (fromFile !== undefined) return fromFile
    const env = yield* envText(key)
    return Option.isSome(env) ? yield* resolveSetting(key, undefined, fallback) : fallback
  })

/** A file name of the file, relative to the file's folder. */
const inFolder = (folder: string, file: string | undefined): string | undefined =>
  file === undefined ? undefined : nodePath.resolve(folder, file)

const tlsSettingsOf = (entry: DestinationTlsEntry | undefined, folder: string): DestinationTlsSettings | undefined => {
  if (entry === undefined || entry === true) return undefined
  const files = entry.ca === undefined && entry.cert === undefined && entry.key === undefined
    ? undefined
    : { ca: inFolder(folder, entry.ca), cert: inFolder(folder, entry.cert), key: inFolder(folder, entry.key) }
  return { files, servername: entry.servername, insecureSkipVerify: entry.insecureSkipVerify ?? false }
}

const destinationOf = (
  entry: FileEntry["routes"][number]["destinations"][number],
  route: Pick<RouteConfig, "bufferBytes" | "writeTimeout" | "connectTimeout" | "sendProxyProtocol">,
  folder: string
): DestinationConfig => ({
  host: entry.address.host,
  port: entry.address.port,
  tls: entry.address.tls === true || entry.destinationTls !== undefined ? true : undefined,
  tlsSettings: tlsSettingsOf(entry.destinationTls, folder),
  bufferBytes: entry.bufferBytes ?? route.bufferBytes,
  writeTimeout: entry.writeTimeout ?? route.writeTimeout,
  connectTimeout: entry.connectTimeout ?? route.connectTimeout,
  sample: entry.sample ?? 1,
  sendProxyProtocol: entry.sendProxyProtocol ?? route.sendProxyProtocol
})

/** The settings a route may override. */
type Overridable =
  | "connectTimeout"
  | "writeTimeout"
  | "bufferBytes"
  | "idleTimeout"
  | "maxConnections"
  | "allow"
  | "framing"
  | "maxMessageBytes"
  | "acceptProxyProtocol"
  | "sendProxyProtocol"

/**
 * Every setting of every route, from the file's entries: a route's own value, else
 * the top level's; at the top, a flag wins over the file, and the file over the
 * environment (`SOCKET_PROXY_*`), then the defaults.
 */
export const resolveRoutes = (
  entry: FileEntry,
  flags: FlagValues,
  /** The configuration file's folder: its file names are relative to it. */
  folder = "."
): Effect.Effect<RoutesConfig, InvalidConfig> =>
  Effect.gen(function*() {
    const top: Required<{ [K in Overridable]: Overrides[K] }> = {
      connectTimeout: yield* topValue("connectTimeout", flags, entry.connectTimeout, settingDefaults.connectTimeout),
      writeTimeout: yield* topValue("writeTimeout", flags, entry.writeTimeout, settingDefaults.writeTimeout),
      bufferBytes: yield* topValue("bufferBytes", flags, entry.bufferBytes, settingDefaults.bufferBytes),
      idleTimeout: yield* topValue("idleTimeout", flags, entry.idleTimeout, settingDefaults.idleTimeout),
      maxConnections: yield* topValue("maxConnections", flags, entry.maxConnections, undefined),
      allow: yield* topValue("allow", flags, entry.allow, undefined),
      framing: yield* topValue("framing", flags, entry.framing, settingDefaults.framing),
      maxMessageBytes: yield* topValue(
        "maxMessageBytes",
        flags,
        entry.maxMessageBytes,
        settingDefaults.maxMessageBytes
      ),
      acceptProxyProtocol: yield* topValue(
        "acceptProxyProtocol",
        flags,
        entry.acceptProxyProtocol,
        settingDefaults.acceptProxyProtocol
      ),
      sendProxyProtocol: yield* topValue(
        "sendProxyProtocol",
        flags,
        entry.sendProxyProtocol,
        settingDefaults.sendProxyProtocol
      )
    }
    const routes = entry.routes.map((route): RouteConfig => {
      const connectTimeout = route.connectTimeout ?? top.connectTimeout!
      const writeTimeout = route.writeTimeout ?? top.writeTimeout!
      const bufferBytes = route.bufferBytes ?? top.bufferBytes!
      const sendProxyProtocol = route.sendProxyProtocol ?? top.sendProxyProtocol!
      return {
        name: route.name,
        listen: route.listen,
        connectTimeout,
        writeTimeout,
        bufferBytes,
        idleTimeout: route.idleTimeout ?? top.idleTimeout!,
        maxConnections: route.maxConnections ?? top.maxConnections,
        allow: route.allow ?? top.allow,
        framing: route.framing ?? top.framing!,
        maxMessageBytes: route.maxMessageBytes ?? top.maxMessageBytes!,
        acceptProxyProtocol: route.acceptProxyProtocol ?? top.acceptProxyProtocol!,
        sendProxyProtocol,
        listenerTls: route.routeTls === undefined ? undefined : {
          cert: inFolder(folder, route.routeTls.cert)!,
          key: inFolder(folder, route.routeTls.key)!,
          clientCa: inFolder(folder, route.routeTls.clientCa)
        },
        destinations: route.destinations.map((d) =>
          destinationOf(d, { connectTimeout, writeTimeout, bufferBytes, sendProxyProtocol }, folder)
        )
      }
    })
    return {
      metrics: yield* topValue("metrics", flags, entry.metrics, undefined),
      drainTimeout: yield* topValue("drainTimeout", flags, entry.drainTimeout, settingDefaults.drainTimeout),
      logLevel: yield* topValue(
        "logLevel",
        flags,
        entry.logLevel,
        Either.getOrThrow(parseLogLevel(settings.logLevel.defaultText))
      ),
      logFormat: yield* topValue(
        "logFormat",
        flags,
        entry.logFormat,
        Either.getOrThrow(parseLogFormat(settings.logFormat.defaultText))
      ),
      routes
    }
  })

/** The file, read, validated and resolved: what the proxy runs, or the one line saying what is wrong. */
export const loadConfigFile = (
  file: string,
  flags: FlagValues
): Effect.Effect<RoutesConfig, InvalidConfigFile | InvalidConfig, FileSystem.FileSystem> =>
  Effect.flatMap(readConfigFile(file), (entry) => resolveRoutes(entry, flags, nodePath.dirname(file))).pipe(
    Effect.tap((config) => checkCertificates(file, config))
  )

/**
 * Every certificate file the routes name, read and checked now, so a bad one is
 * the line naming the key, the file and the problem (at start: exit 2; on a
 * reload: refused, nothing changed).
 */
const checkCertificates = (file: string, config: RoutesConfig): Effect.Effect<void, InvalidConfigFile> =>
  Effect.forEach(config.routes, (route, r) =>
    Effect.gen(function*() {
      const at = `routes[${r}]`
      if (route.listenerTls !== undefined) {
        yield* loadListenerTls(route.listenerTls, {
          cert: `${at}.tls.cert`,
          key: `${at}.tls.key`,
          clientCa: `${at}.tls.client-ca`
        })
      }
      yield* Effect.forEach(route.destinations, (destination, d) => {
        const files = destination.tlsSettings?.files
        const there = `${at}.destinations[${d}].tls`
        return files === undefined
          ? Effect.void
          : loadDestinationTls(files, { ca: `${there}.ca`, cert: `${there}.cert`, key: `${there}.key` })
      }, { discard: true })
    }).pipe(
      Effect.mapError((error) =>
        new InvalidConfigFile({ file, path: error.setting, reason: `${error.file}: ${error.problem}` })
      )
    ), { discard: true })

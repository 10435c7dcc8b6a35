import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { Duration } from "effect"
import type { Cidr } from "../Proxy/Settings/Cidr.js"
import type { Endpoint, ListenAddress } from "../Proxy/Settings/Endpoint.js"
import type {
  DestinationTlsEntry,
  Place,
  RouteTlsEntry,
  SendProxyProtocol,
  Setting,
  SettingKey,
  SettingValue
} from "../Proxy/Settings/Settings.js"
import { settings } from "../Proxy/Settings/Settings.js"

/**
 * The configuration file's Schema, made from the settings table: at each level
 * (top, route, destination) the keys are the table's `fileKey`s of the settings
 * that may stand there, each decoded by the setting's own parser (from text, or
 * from a number such as `listen: 8000`). Unknown keys are errors. What one
 * value cannot say (names unique, listen addresses distinct) is `Validate.ts`.
 */

const describeValue = (input: unknown): string =>
  input === null || input === undefined
    ? "nothing"
    : Array.isArray(input)
    ? "a list"
    : typeof input === "object"
    ? "a map"
    : JSON.stringify(input)

/** A setting's value: text or a number in the file, its typed value once decoded. */
const value = <A>(setting: Setting<A>): Schema.Schema<A, unknown> =>
  setting.fileValue?.(Schema) ?? Schema.transformOrFail(
    Schema.Unknown,
    Schema.declare((_: unknown): _ is A => true),
    {
      strict: true,
      decode: (input, _, ast) =>
        typeof input !== "string" && typeof input !== "number" && !(setting.isSwitch && typeof input === "boolean")
          ? ParseResult.fail(
            new ParseResult.Type(
              ast,
              input,
              `expected ${setting.metavar} (${setting.isSwitch ? "true or false" : "text or a number"}), got ${
                describeValue(input)
              }`
            )
          )
          : Either.match(setting.parse(String(input)), {
            onLeft: (reason) =>
              ParseResult.fail(new ParseResult.Type(ast, input, `${JSON.stringify(input)}: ${reason}`)),
            onRight: ParseResult.succeed
          }),
      encode: (decoded, _, ast) =>
        ParseResult.fail(new ParseResult.Forbidden(ast, decoded, "the file is read, never written"))
    }
  )

const keysAt = (place: Place): ReadonlyArray<SettingKey> =>
  (Object.keys(settings) as Array<SettingKey>).filter((key) =>
    settings[key].fileKey !== undefined && settings[key].places.includes(place)
  )

const optionalValue = <K extends SettingKey>(key: K) =>
  Schema.optional(value(settings[key] as unknown as Setting<SettingValue<K>>)).pipe(
    Schema.fromKey(settings[key].fileKey!)
  )

/** What a destination, a route and the top level may override, as decoded. */
export interface Overrides {
  readonly connectTimeout?: Duration.Duration
  readonly writeTimeout?: Duration.Duration
  readonly bufferBytes?: number
  readonly idleTimeout?: Duration.Duration
  readonly maxConnections?: number
  readonly allow?: ReadonlyArray<Cidr>
  readonly framing?: SettingValue<"framing">
  readonly maxMessageBytes?: number
  readonly acceptProxyProtocol?: boolean
  readonly sendProxyProtocol?: SendProxyProtocol
}

export interface DestinationEntry
  extends Pick<Overrides, "connectTimeout" | "writeTimeout" | "bufferBytes" | "sendProxyProtocol">
{
  readonly destinationTls?: DestinationTlsEntry
  readonly address: Endpoint
  readonly sample?: number
}

export interface RouteEntry extends Overrides {
  readonly routeTls?: RouteTlsEntry
  readonly name: string
  readonly listen: ListenAddress
  readonly destinations: ReadonlyArray<DestinationEntry>
}

export interface FileEntry extends Overrides {
  readonly metrics?: ListenAddress
  readonly drainTimeout?: Duration.Duration
  readonly logLevel?: SettingValue<"logLevel">
  readonly logFormat?: SettingValue<"logFormat">
  readonly routes: ReadonlyArray<RouteEntry>
}

const optionalFields = (place: Place, except: ReadonlyArray<SettingKey>) =>
  Object.fromEntries(keysAt(place).filter((key) => !except.includes(key)).map((key) => [key, optionalValue(key)]))

const destinationAsMap = Schema.Struct({
  address: value(settings.address),
  ...optionalFields("destination", ["address"])
})

/** `HOST:PORT`, or a map with `address` and what it overrides. */
const destination = Schema.transform(
  Schema.Unknown,
  destinationAsMap,
  {
    strict: true,
    // Text is the address alone; anything else is decoded (and reported) as the map form.
    // (The map form's own Schema checks what `input` really is.)
    decode: (input) => (typeof input === "string" ? { address: input } : (input as { readonly address: unknown })),
    encode: (entry): unknown => entry
  }
)

const route = Schema.Struct({
  name: value(settings.name),
  listen: value(settings.listen),
  destinations: Schema.Array(destination),
  ...optionalFields("route", ["name", "listen", "destinations"])
})

/** The whole file. Decode with `onExcessProperty: "error"` (see `Load.ts`), so a misspelt key is an error. */
export const FileSchema = Schema.Struct({
  routes: Schema.Array(route),
  ...optionalFields("top", [])
}) as unknown as Schema.Schema<FileEntry, unknown>

/** The keys that may be written at each level, for "unknown key" messages. */
export const knownKeys = (place: Place): ReadonlyArray<string> => [
  ...(place === "top" ? ["routes"] : []),
  ...keysAt(place).map((key) => settings[key].fileKey!)
]

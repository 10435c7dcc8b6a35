import { Command, Options } from "@effect/cli"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { parseEndpoint, parseListenAddress } from "../Proxy/Endpoint.js"
import { InvalidConfig } from "../Proxy/Errors.js"
import { parseByteSize, parseDuration } from "../Proxy/Units.js"
import { logLevelOption, withLogLevel } from "./LogLevelOption.js"

const port = (fallback: number) =>
  Options.integer("port").pipe(Options.withDescription("TCP port"), Options.withDefault(fallback))

/** Decodes a flag's text with one of the proxy's parsers, failing with the flag's name. */
const decodeFlag = <A>(setting: string, text: string, parse: (text: string) => Either.Either<A, string>) =>
  Either.match(parse(text), {
    onLeft: (reason) => Effect.fail(new InvalidConfig({ setting, value: text, reason })),
    onRight: Effect.succeed
  })

export const fakeSourceCommand = Command.make(
  "fake-source",
  {
    port: port(8000),
    host: Options.text("host").pipe(Options.withDescription("Host to connect to"), Options.withDefault("127.0.0.1")),
    interval: Options.text("interval").pipe(
      Options.withDescription("Time between messages (500ms, 1s, ...)"),
      Options.withDefault("1s")
    ),
    size: Options.text("size").pipe(Options.withDescription("Random characters per message"), Options.withDefault("16")),
    logLevel: logLevelOption
  },
  (options) =>
    Effect.gen(function*() {
      const target = yield* decodeFlag("--host/--port", `${options.host}:${options.port}`, parseEndpoint)
      const interval = yield* decodeFlag("--interval", options.interval, parseDuration)
      const size = yield* decodeFlag("--size", options.size, parseByteSize)
      const FakeSource = yield* Effect.promise(() => import("../Fakes/FakeSource.js"))
      return yield* FakeSource.run({ target, interval, size })
    }).pipe(withLogLevel(options.logLevel))
).pipe(Command.withDescription("Connect to the proxy and send a random line every second; reconnect when cut off."))

export const fakeDestinationCommand = Command.make(
  "fake-destination",
  {
    port: port(8080),
    host: Options.text("host").pipe(
      Options.withDescription("Address to listen on (default: every interface)"),
      Options.optional
    ),
    logLevel: logLevelOption
  },
  (options) =>
    Effect.gen(function*() {
      const text = Option.match(options.host, {
        onNone: () => String(options.port),
        onSome: (host) => `${host.includes(":") ? `[${host}]` : host}:${options.port}`
      })
      const listen = yield* decodeFlag("--host/--port", text, parseListenAddress)
      const FakeDestination = yield* Effect.promise(() => import("../Fakes/FakeDestination.js"))
      return yield* FakeDestination.run({ listen })
    }).pipe(withLogLevel(options.logLevel))
).pipe(Command.withDescription("Accept any number of connections and log what each receives."))

export const demoCommand = Command.make("demo", { logLevel: logLevelOption }, (options) =>
  Effect.flatMap(Effect.promise(() => import("../Fakes/Demo.js")), (Demo) => Demo.run).pipe(withLogLevel(options.logLevel))).pipe(
  Command.withDescription("Two fake destinations, two fake sources and the proxy in one process, on loopback.")
)

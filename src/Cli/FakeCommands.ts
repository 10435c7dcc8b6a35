import { Command } from "@effect/cli"
import { Effect, Either } from "effect"
import { parseEndpoint, parseListenAddress } from "../Proxy/Settings/Endpoint.js"
import { parseFraming } from "../Proxy/Framing/Framing.js"
import { InvalidConfig } from "../Proxy/Errors.js"
import { durationSpelling, parseByteSize, parseDuration } from "../Proxy/Settings/Units.js"
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
  logLevel
}

/** `--framing` of a fake: none, or the framing of its numbered messages. */
const fakeFraming = (text: string | undefined) =>
  Effect.map(decodeFlag("framing", text ?? "none", parseFraming), (framing) => framing === "none" ? undefined : framing)

export const fakeSourceHelp: CommandHelp = {
  name: "fake-source",
  summary:
    "Connect to HOST:PORT and send a line of --size random characters every --interval; reconnect about every 2 s when it cannot connect or is cut off.",
  usage: ["[--port PORT] [--host HOST] [--interval DURATION] [--size N] [--framing lines|u16be|u32be]"],
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
        yield* Effect.logInfo(
          framing === undefined
            ? `sending ${size} random characters and a newline every ${options.interval ?? "1s"} to ${host}:${port}`
            : `sending a numbered ${framing} message every ${
              options.interval ?? "1s"
            }, in two writes, to ${host}:${port}`
        )
        // Loaded only to run it: the fakes are not needed for --help or a bad flag.
        const FakeSource = yield* Effect.promise(() => import("../Fakes/FakeSource.js"))
        return yield* FakeSource.run({ target, interval, size, framing })
      }).pipe(withLogLevel(options.logLevel)))
)

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
  logLevel
}

export const fakeDestinationHelp: CommandHelp = {
  name: "fake-destination",
  summary: "Accept any number of connections and log what each receives: a preview and a running byte count.",
  usage: ["[--port PORT] [--host HOST] [--framing lines|u16be|u32be]"],
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
        const FakeDestination = yield* Effect.promise(() => import("../Fakes/FakeDestination.js"))
        return yield* FakeDestination.run({ listen, framing })
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

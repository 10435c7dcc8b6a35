import { Options } from "@effect/cli"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as HashSet from "effect/HashSet"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import { InvalidConfig } from "../Proxy/Errors.js"

const formats = ["pretty", "logfmt", "json"] as const
export type LogFormat = (typeof formats)[number]

export const logFormatEnv = "SOCKET_PROXY_LOG_FORMAT"

/** Effect's own loggers, each printing one line per event to stdout. */
const printing: Record<LogFormat, Logger.Logger<unknown, void>> = {
  pretty: Logger.prettyLoggerDefault,
  logfmt: Logger.withConsoleLog(Logger.logfmtLogger),
  // One JSON object per line; annotations (connection, peer, destination, ...) are fields a log service can index.
  json: Logger.withConsoleLog(Logger.jsonLogger)
}

/** The program-wide default (logfmt); install it with `Logger.replace(Logger.defaultLogger, defaultPrintingLogger)`. */
export const defaultPrintingLogger = printing.logfmt

/** `--log-format`, on the proxy command; checked here, so a bad value is reported like every other setting. */
export const logFormatOption = Options.text("log-format").pipe(
  Options.withPseudoName(formats.join("|")),
  Options.withDescription(`How log lines are written: pretty, logfmt or json. Falls back to ${logFormatEnv}, then logfmt.`),
  Options.optional
)

const isFormat = (text: string): text is LogFormat => (formats as ReadonlyArray<string>).includes(text)

const decodeFormat = (setting: string, text: string): Effect.Effect<LogFormat, InvalidConfig> => {
  const format = text.trim().toLowerCase()
  return isFormat(format)
    ? Effect.succeed(format)
    : Effect.fail(new InvalidConfig({ setting, value: text, reason: `expected one of ${formats.join(", ")}` }))
}

const formatFromEnv: Effect.Effect<LogFormat, InvalidConfig> = Config.option(Config.string(logFormatEnv)).pipe(
  Effect.orDie,
  Effect.flatMap(Option.match({
    onNone: () => Effect.succeed<LogFormat>("logfmt"),
    onSome: (text) => decodeFormat(logFormatEnv, text)
  }))
)

/** Runs `effect` with the format from the flag, else from the environment, else logfmt, in place of the default logger. */
export const withLogFormat = (flag: Option.Option<string>) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    Option.match(flag, { onSome: (text) => decodeFormat("--log-format", text), onNone: () => formatFromEnv }),
    (format) =>
      Effect.locallyWith(effect, FiberRef.currentLoggers, (loggers) =>
        HashSet.add(
          HashSet.remove(HashSet.remove(loggers, Logger.defaultLogger), defaultPrintingLogger),
          printing[format]
        ))
  )

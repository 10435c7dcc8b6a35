import { Options } from "@effect/cli"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import { InvalidConfig } from "../Proxy/Errors.js"

const levels = ["trace", "debug", "info", "warning", "error", "none"] as const
type Level = (typeof levels)[number]

const literal: Record<Level, LogLevel.Literal> = {
  trace: "Trace",
  debug: "Debug",
  info: "Info",
  warning: "Warning",
  error: "Error",
  none: "None"
}

export const logLevelEnv = "SOCKET_PROXY_LOG_LEVEL"

/** `--log-level`, on each command (the built-in one of @effect/cli only works before the command name). */
export const logLevelOption = Options.choice("log-level", levels).pipe(
  Options.withDescription(`Least severe log level to print. Falls back to ${logLevelEnv}, then info.`),
  Options.optional
)

const isLevel = (text: string): text is Level => (levels as ReadonlyArray<string>).includes(text)

const levelFromEnv: Effect.Effect<Level, InvalidConfig> = Config.option(Config.string(logLevelEnv)).pipe(
  Effect.orDie,
  Effect.flatMap(Option.match({
    onNone: () => Effect.succeed<Level>("info"),
    onSome: (text) =>
      isLevel(text.trim().toLowerCase())
        ? Effect.succeed(text.trim().toLowerCase() as Level)
        : Effect.fail(new InvalidConfig({ setting: logLevelEnv, value: text, reason: `expected one of ${levels.join(", ")}` }))
  }))
)

/** Runs `effect` with the level from the flag, else from the environment, else info. */
export const withLogLevel = (flag: Option.Option<Level>) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    Option.match(flag, { onSome: Effect.succeed, onNone: () => levelFromEnv }),
    (level) => Logger.withMinimumLogLevel(effect, LogLevel.fromLiteral(literal[level]))
  )

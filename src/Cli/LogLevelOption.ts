import { Effect, Either, Logger, LogLevel } from "effect"
import { resolveSetting } from "../Proxy/Settings/Config.js"
import type { InvalidConfig } from "../Proxy/Errors.js"
import { parseLogLevel, settings } from "../Proxy/Settings/Settings.js"

const defaultLevel = Either.getOrElse(parseLogLevel(settings.logLevel.defaultText), () => LogLevel.Info)

/** Runs `effect` with the level from `--log-level`, else `SOCKET_PROXY_LOG_LEVEL`, else info. */
export const withLogLevel = (flag: string | undefined) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    resolveSetting("logLevel", flag, defaultLevel),
    (level): Effect.Effect<A, E | InvalidConfig, R> => Logger.withMinimumLogLevel(effect, level)
  )

import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
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

import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as HashSet from "effect/HashSet"
import * as Logger from "effect/Logger"
import { resolveSetting } from "../Proxy/Settings/Config.js"
import type { InvalidConfig } from "../Proxy/Errors.js"
import type { LogFormat } from "../Proxy/Settings/Settings.js"

/** Effect's own loggers, each printing one line per event to stdout. */
const printing: Record<LogFormat, Logger.Logger<unknown, void>> = {
  pretty: Logger.prettyLoggerDefault,
  logfmt: Logger.withConsoleLog(Logger.logfmtLogger),
  // One JSON object per line; annotations (connection, peer, destination, ...) are fields a log service can index.
  json: Logger.withConsoleLog(Logger.jsonLogger)
}

/** The program-wide default (logfmt); install it with `Logger.replace(Logger.defaultLogger, defaultPrintingLogger)`. */
export const defaultPrintingLogger = printing.logfmt

/** Runs `effect` with the given logger in place of the default one. */
export const withLogger = (format: LogFormat) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.locallyWith(
    effect,
    FiberRef.currentLoggers,
    (loggers) =>
      HashSet.add(
        HashSet.remove(HashSet.remove(loggers, Logger.defaultLogger), defaultPrintingLogger),
        printing[format]
      )
  )

/** Runs `effect` with the format from `--log-format`, else `SOCKET_PROXY_LOG_FORMAT`, else logfmt. */
export const withLogFormat = (flag: string | undefined) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    resolveSetting("logFormat", flag, "logfmt" as const),
    (format): Effect.Effect<A, E | InvalidConfig, R> => withLogger(format)(effect)
  )

import type { FileSystem } from "@effect/platform"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import type { FlagValues } from "../ConfigFile/Load.js"
import { loadConfigFile } from "../ConfigFile/Load.js"
import { reloadOnChange, reloadTriggers } from "../ConfigFile/Reload.js"
import { fileStamp } from "../ConfigFile/Watch.js"
import type { InvalidConfig, InvalidConfigFile, ListenError } from "../Proxy/Errors.js"
import * as Proxy from "../Proxy/Proxy.js"
import { describeRoute } from "../Proxy/Routes/Routes.js"
import { withLogger } from "./LogFormatOption.js"

export interface FromFile {
  readonly file: string
  /** `--check`: validate, say what the file holds, exit. */
  readonly check: boolean
  /** The command line's values, which win over the file's top level. */
  readonly flags: FlagValues
}

/**
 * `proxy --config FILE`: runs every route of the file and reloads it on SIGHUP
 * and when it changes, until interrupted. With `--check`, validates it and
 * prints one line saying what it holds. A file that does not validate fails
 * with the one line naming the file, the key and what is wrong.
 */
export const runFromFile = (
  options: FromFile
): Effect.Effect<void, InvalidConfigFile | InvalidConfig | ListenError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    // Taken before the read: a change after it is seen as one, even if it comes before the watch starts.
    const stamp = yield* fileStamp(options.file)
    const config = yield* loadConfigFile(options.file, options.flags)
    if (options.check) {
      return yield* Console.log(
        `${options.file}: valid; ${config.routes.length} route(s): ${config.routes.map(describeRoute).join("; ")}`
      )
    }
    const run = Effect.gen(function*() {
      const triggers = yield* reloadTriggers(options.file)
      const routes = yield* Proxy.makeRoutes(config)
      return yield* reloadOnChange(options.file, options.flags, routes.routes, triggers, stamp, config)
    }).pipe(Effect.scoped)
    const logged = config.logFormat === undefined ? run : withLogger(config.logFormat)(run)
    return yield* config.logLevel === undefined ? logged : Logger.withMinimumLogLevel(logged, config.logLevel)
  })

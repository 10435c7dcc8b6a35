import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { envText, resolveProxyConfig, resolveSetting } from "../Proxy/Settings/Config.js"
import { sighupWithoutFile } from "../ConfigFile/Signals.js"
import { UsageError } from "../Proxy/Errors.js"
import { checkSwitch } from "../Proxy/Settings/Settings.js"
import { untilLauncherGone } from "./LauncherWatch.js"
import { withLogFormat } from "./LogFormatOption.js"
import { withLogLevel } from "./LogLevelOption.js"
import { singles, textOptions } from "./OptionValues.js"
import { options, proxyHelp } from "./ProxyHelp.js"

const tlsKeys = ["tlsCert", "tlsKey", "tlsClientCa", "destCa", "destCert", "destKey"] as const

/**
 * With a file, TLS is the file's (a route's `tls:`, a destination's `tls:`): a TLS
 * flag or variable is refused rather than ignored, so no one believes a feed
 * encrypted that is not.
 */
const refuseTlsWithFile = (
  given: Readonly<Partial<Record<(typeof tlsKeys)[number], string | undefined>>>,
  from: string
): Effect.Effect<void, UsageError> =>
  Effect.forEach(tlsKeys, (key) =>
    Effect.flatMap(envText(key), (env) => {
      const named = given[key] !== undefined
        ? `--${options[key].flag}`
        : Option.isSome(env)
        ? env.value.setting
        : undefined
      return named === undefined
        ? Effect.void
        : Effect.fail(
          new UsageError({
            detail: `${named} cannot be used with ${from}: with a file, TLS is set in it (a route's ` +
              "tls: { cert, key, client-ca }, a destination's tls: { ca, cert, key }; see docs/tls.md)"
          })
        )
    }), { discard: true })

/** The proxy itself is loaded only to run it: `--help` and a bad flag need none of it. */
const loadProxy = Effect.promise(() => import("../Proxy/Proxy.js"))
const loadFromFile = Effect.promise(() => import("./ProxyFromFile.js"))

/** `proxy`: run the proxy until SIGINT/SIGTERM. Flags win over `SOCKET_PROXY_*` env variables. */
export const proxyCommand = Command.make(
  "proxy",
  { values: textOptions(options), check: Options.boolean(checkSwitch.flag) },
  ({ check, values }) =>
    Effect.gen(function*() {
      const given = yield* singles(options, values)
      const file = yield* resolveSetting("config", given.config, undefined)
      if (file === undefined) {
        if (check) return yield* new UsageError({ detail: "--check needs --config FILE (or SOCKET_PROXY_CONFIG)" })
        return yield* resolveProxyConfig({ ...given, destinations: values.destinations }).pipe(
          Effect.flatMap((config) =>
            Effect.flatMap(loadProxy, (Proxy) =>
              untilLauncherGone(Effect.scoped(Effect.gen(function*() {
                // Taken before the proxy starts, so an early SIGHUP never ends the process.
                const reloadWith = yield* sighupWithoutFile
                const proxy = yield* Proxy.make(config)
                if (config.listenerTls !== undefined || config.destinationTls !== undefined) {
                  reloadWith(proxy.reloadCertificates)
                }
                return yield* Effect.never
              }))))
          ),
          withLogFormat(given.logFormat),
          withLogLevel(given.logLevel)
        )
      }
      const from = given.config === undefined ? "SOCKET_PROXY_CONFIG" : "--config"
      for (const key of ["listen", "destinations"] as const) {
        if (values[key].length > 0) {
          return yield* new UsageError({
            detail: `--${options[key].flag} ${JSON.stringify(values[key][0])} cannot be used with ${from}: ` +
              "the file gives each route's listen address and destinations"
          })
        }
      }
      yield* refuseTlsWithFile(given, from)
      const { runFromFile } = yield* loadFromFile
      return yield* untilLauncherGone(runFromFile({ file, check, flags: given }))
    })
).pipe(Command.withDescription(proxyHelp.summary))

import type { FileSystem } from "@effect/platform"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import type { Scope } from "effect"
import { configReloads } from "../Proxy/Observability/MetricNames.js"
import type { RoutesConfig } from "../Proxy/Routes/Routes.js"
import type { RouteSet } from "../Proxy/Routes/RouteSet.js"
import type { FlagValues } from "./Load.js"
import { loadConfigFile } from "./Load.js"
import { sighups } from "./Signals.js"
import { directoryChanges, fileStamp } from "./Watch.js"

/** Changes in the file's directory closer together than this are one reload: an editor's save is several events. */
export const reloadDebounce = Duration.millis(200)

/** What a reload does not change, when the file changes it: said in the reload's line. */
const notReloaded = (before: RoutesConfig, after: RoutesConfig): ReadonlyArray<string> => [
  ...(before.logLevel?.label !== after.logLevel?.label
    ? ["log-level: not changed by a reload (restart to change it)"]
    : []),
  ...(before.logFormat !== after.logFormat ? ["log-format: not changed by a reload (restart to change it)"] : [])
]

const counted = (result: "applied" | "failed") => Metric.increment(Metric.tagged(configReloads, "result", result))

/**
 * Reads, validates and applies `file` once. A file that does not validate, or
 * that needs an address that cannot be bound, changes nothing: one error line
 * (the message the same file would stop the proxy with at start), counted
 * `failed`. Otherwise one line saying what changed, counted `applied`.
 */
export const reloadOnce = (
  file: string,
  flags: FlagValues,
  routes: RouteSet,
  why: string,
  running: Ref.Ref<RoutesConfig>
): Effect.Effect<void, never, FileSystem.FileSystem> =>
  loadConfigFile(file, flags).pipe(
    Effect.flatMap((config) =>
      Effect.gen(function*() {
        const before = yield* Ref.get(running)
        const changes = [...(yield* routes.apply(config)), ...notReloaded(before, config)]
        yield* Ref.set(running, config)
        // Certificate files are read again even where their names did not change (renewed in place).
        yield* Effect.forEach(routes.routes(), (route) => route.reloadCertificates, { discard: true })
        return changes
      })
    ),
    Effect.matchEffect({
      onFailure: (error) =>
        Effect.logError(`reload (${why}) refused, nothing changed: ${error.message}`).pipe(
          Effect.zipRight(counted("failed"))
        ),
      onSuccess: (changes) =>
        Effect.logInfo(
          `reloaded ${file} (${why}): ${changes.length === 0 ? "nothing changed" : changes.join("; ")}`
        ).pipe(Effect.zipRight(counted("applied")))
    })
  )

/** What asks for a reload: a SIGHUP, or a change in the file's directory. */
export type ReloadTrigger = "SIGHUP" | "changed"

/**
 * Starts listening for SIGHUP (from then on it no longer ends the process) and
 * watching the directory of `file`, for as long as the scope is open. Install it
 * before the proxy listens, so no SIGHUP falls between the two.
 */
export const reloadTriggers = (file: string): Effect.Effect<Queue.Dequeue<ReloadTrigger>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const triggers = yield* Effect.acquireRelease(Queue.unbounded<ReloadTrigger>(), Queue.shutdown)
    const hups = yield* sighups
    const changes = yield* directoryChanges(file)
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(hups), (item) => Queue.offer(triggers, item))))
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(changes), (item) => Queue.offer(triggers, item))))
    return triggers
  })

/**
 * Reloads `file` on every trigger: each SIGHUP, and each change of the file
 * (debounced; a change in the directory that leaves the file as it was is
 * ignored). Runs until interrupted.
 */
export const reloadOnChange = (
  file: string,
  flags: FlagValues,
  routes: RouteSet,
  triggers: Queue.Dequeue<ReloadTrigger>,
  /** `fileStamp` of the file taken before it was read for what runs now. */
  loadedStamp: string,
  /** What runs now. */
  loaded: RoutesConfig
): Effect.Effect<never, never, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    // Both series show from the first scrape, at 0.
    yield* Metric.incrementBy(Metric.tagged(configReloads, "result", "applied"), 0)
    yield* Metric.incrementBy(Metric.tagged(configReloads, "result", "failed"), 0)
    let stamp = loadedStamp
    const running = yield* Ref.make(loaded)
    return yield* Effect.forever(
      Effect.gen(function*() {
        const first = yield* Queue.take(triggers)
        yield* Effect.sleep(reloadDebounce)
        const rest = yield* Queue.takeAll(triggers)
        const signalled = first === "SIGHUP" || [...rest].includes("SIGHUP")
        const now = yield* fileStamp(file)
        if (!signalled && now === stamp) return
        stamp = now
        yield* reloadOnce(file, flags, routes, signalled ? "SIGHUP" : "file changed", running)
      })
    )
  })

import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Scope from "effect/Scope"
import type { Duration } from "effect"
import type { ListenAddress } from "../Settings/Endpoint.js"
import { formatEndpoint } from "../Settings/Endpoint.js"
import type { ListenError } from "../Errors.js"
import type { FiberCounter } from "../Observability/FiberCounter.js"
import type { LiveRoute, Prepared } from "./Route.js"
import { openRoute } from "./Route.js"
import { routeChanges } from "./RouteDiff.js"
import type { RouteConfig, RoutesConfig } from "./Routes.js"
import { sessionConfig } from "./Routes.js"
import { describeSettings } from "../Settings/EffectiveSettings.js"
import { formatDuration } from "../Settings/Units.js"

/** The routes running now, by name, and the reload that changes them. */
export interface RouteSet {
  readonly routes: () => ReadonlyArray<LiveRoute>
  readonly route: (name: string) => LiveRoute | undefined
  /**
   * Puts `next` in force, or nothing at all: every new listen address is bound
   * first, and if one cannot be, what was bound is closed again and the reload
   * fails with that `ListenError`. Then added routes start, changed ones take
   * their new settings (for connections opened from now on), and removed ones
   * stop accepting and drain in the background. Returns one phrase per change.
   */
  readonly apply: (next: RoutesConfig) => Effect.Effect<ReadonlyArray<string>, ListenError>
  /** Shutdown: every route drains, at once, for up to the drain timeout. */
  readonly stopAll: Effect.Effect<void>
}

/** The start-up line of a route, with every setting in force, so an operator sees what defaults and env made of it. */
const listeningLine = (
  route: RouteConfig,
  address: ListenAddress,
  top: Pick<RoutesConfig, "metrics" | "drainTimeout">
) =>
  `listening on ${formatEndpoint(address)}, forwarding to ${route.destinations.map(formatEndpoint).join(", ")} ` +
  `(${describeSettings(sessionConfig(route, top))})`

/** Opens every route of `config` (under `parent`) and returns the set, not yet accepting; `start` starts them. */
export const makeRouteSet = (
  config: RoutesConfig,
  fibers: FiberCounter,
  parent: Scope.Scope
): Effect.Effect<{ readonly set: RouteSet; readonly start: Effect.Effect<void> }, ListenError> =>
  Effect.gen(function*() {
    const scope = yield* Scope.fork(parent, ExecutionStrategy.sequential)
    const shared = { fibers, metrics: config.metrics, drainTimeout: config.drainTimeout }
    let drainTimeout: Duration.Duration = config.drainTimeout
    let metrics = config.metrics
    const live = new Map<string, LiveRoute>()
    const starts: Array<Effect.Effect<void>> = []
    for (const route of config.routes) {
      const opened = yield* openRoute(route, shared, scope)
      live.set(route.name, opened.route)
      starts.push(
        opened.start.pipe(
          Effect.zipRight(Effect.logInfo(listeningLine(route, opened.route.address(), shared))),
          Effect.annotateLogs({ route: route.name })
        )
      )
    }

    const apply = (next: RoutesConfig): Effect.Effect<ReadonlyArray<string>, ListenError> =>
      Effect.gen(function*() {
        const prepared: Array<Prepared> = []
        const changes: Array<string> = []
        const abortAll = Effect.forEach(prepared, (p) => p.abort, { discard: true })
        const added: Array<LiveRoute> = []
        for (const route of next.routes) {
          const running = live.get(route.name)
          if (running === undefined) {
            const opened = yield* openRoute(route, { ...shared, drainTimeout }, scope).pipe(
              Effect.tapError(() => abortAll)
            )
            added.push(opened.route)
            prepared.push({
              commit: opened.start.pipe(
                Effect.zipRight(
                  Effect.logInfo(listeningLine(route, opened.route.address(), { metrics, drainTimeout }))
                ),
                Effect.annotateLogs({ route: route.name })
              ),
              abort: opened.abort
            })
            changes.push(`route ${route.name} added (${formatEndpoint(opened.route.address())})`)
            continue
          }
          const changed = routeChanges(running.config(), route)
          if (changed.length === 0) continue
          prepared.push(yield* running.prepare(route).pipe(Effect.tapError(() => abortAll)))
          changes.push(`route ${route.name}: ${changed.join("; ")}`)
        }
        const names = new Set(next.routes.map((route) => route.name))
        const removed = [...live.values()].filter((route) => !names.has(route.name))
        for (const route of removed) changes.push(`route ${route.name} removed`)
        if (formatDuration(next.drainTimeout) !== formatDuration(drainTimeout)) {
          changes.push(`drain-timeout ${formatDuration(drainTimeout)} -> ${formatDuration(next.drainTimeout)}`)
        }
        if (
          (next.metrics === undefined ? "off" : formatEndpoint(next.metrics)) !==
            (metrics === undefined ? "off" : formatEndpoint(metrics))
        ) {
          changes.push("metrics: not changed by a reload (restart to move it)")
        }
        // Everything is bound: from here on nothing can fail.
        yield* Effect.forEach(prepared, (p) => p.commit, { discard: true })
        for (const route of added) live.set(route.name, route)
        drainTimeout = next.drainTimeout
        metrics = next.metrics
        for (const route of removed) {
          live.delete(route.name)
          const open = (yield* route.stats).openConnections
          yield* Effect.logInfo(`route ${route.name} removed: stopped listening, draining ${open} connection(s)`).pipe(
            Effect.annotateLogs({ route: route.name })
          )
          yield* Effect.forkIn(Effect.interruptible(route.stop(drainTimeout)), scope)
        }
        return changes
      }).pipe(Effect.uninterruptible)

    const set: RouteSet = {
      routes: () => [...live.values()],
      route: (name) => live.get(name),
      apply,
      stopAll: Effect.suspend(() =>
        Effect.forEach([...live.values()], (route) => route.stop(drainTimeout), {
          concurrency: "unbounded",
          discard: true
        })
      )
    }
    return { set, start: Effect.all(starts, { discard: true }) }
  })

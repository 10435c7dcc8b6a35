import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Scope from "effect/Scope"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { Fiber } from "effect"
import { Admission } from "../Edges/Admission.js"
import { AllowList } from "../Settings/Cidr.js"
import { DestinationHealth } from "../Observability/DestinationHealth.js"
import { Drain } from "../DataPath/Drain.js"
import type { Endpoint, ListenAddress } from "../Settings/Endpoint.js"
import { formatEndpoint } from "../Settings/Endpoint.js"
import { IdleWatch } from "../DataPath/IdleWatch.js"
import type { ListenError } from "../Errors.js"
import type { FiberCounter } from "../Observability/FiberCounter.js"
import type { AcceptTarget } from "../Edges/Listener.js"
import type { LiveSession, SessionContext } from "../DataPath/Session.js"
import { acceptLoop } from "../Edges/Listener.js"
import { registerProxy } from "../Observability/ProxyMetrics.js"
import type { DestinationConfig, RouteConfig } from "./Routes.js"
import { sessionConfig } from "./Routes.js"
import { mergeStats } from "./RouteStats.js"
import type { ProxyStats } from "../Observability/Stats.js"
import { ProxyCounters } from "../Observability/Stats.js"
import * as Tcp from "../DataPath/Tcp.js"
import { RouteTls } from "../Tls/RouteTls.js"
import { insecureWarning } from "../DataPath/Forwarder.js"

/** A reload's change to a route, bound and ready: `commit` puts it in force, `abort` undoes the binding. */
export interface Prepared {
  readonly commit: Effect.Effect<void>
  readonly abort: Effect.Effect<void>
}

/** One running route: its listener, its sessions, its counters. */
export interface LiveRoute {
  readonly name: string
  /** The address bound now (the real port when 0 was asked for). */
  readonly address: () => Endpoint
  /** The route's settings now: what the connections accepted from now on get. */
  readonly config: () => RouteConfig
  /**
   * The route's destinations as configured now, and every change a reload makes
   * to them (open sessions are told of changes through `SessionContext.sessions`).
   */
  readonly destinations: SubscriptionRef.SubscriptionRef<ReadonlyArray<DestinationConfig>>
  /** Open connections of every generation of the route, and its counters. */
  readonly stats: Effect.Effect<ProxyStats>
  /** Binds what `next` needs (a new listen address) without changing anything yet. */
  readonly prepare: (next: RouteConfig) => Effect.Effect<Prepared, ListenError>
  /** Stops accepting, lets open connections flush for up to `drainTimeout`, then closes them. */
  readonly stop: (drainTimeout: Duration.Duration) => Effect.Effect<void>
  /** Reads the route's certificate files again, for new connections; a bad one changes nothing (logged). */
  readonly reloadCertificates: Effect.Effect<void>
}

/**
 * What each session of a route is given: its `SessionContext` (its `ProxyConfig`,
 * made for the route, its counters, the drain, its destinations with their own
 * settings, the set of open sessions a reload tells of destination changes), and
 * the route's live destination list.
 */
export interface RouteSessionContext extends SessionContext {
  readonly route: string
  readonly destinations: SubscriptionRef.SubscriptionRef<ReadonlyArray<DestinationConfig>>
}

/** The route's settings and counters as the next accepted connection gets them. */
interface Generation extends AcceptTarget {
  readonly counters: ProxyCounters
  readonly config: RouteConfig
  readonly context: RouteSessionContext
}

const sameListen = (a: ListenAddress, b: ListenAddress) => a.host === b.host && a.port === b.port

const sameDestinations = (a: ReadonlyArray<DestinationConfig>, b: ReadonlyArray<DestinationConfig>) =>
  a.length === b.length && a.every((d, i) => formatEndpoint(d) === formatEndpoint(b[i]!))

export interface RouteShared {
  readonly fibers: FiberCounter
  readonly metrics: ListenAddress | undefined
  readonly drainTimeout: Duration.Duration
}

/**
 * Opens `config`'s listener in a scope of its own under `parent` (so `stop`, or
 * the parent's closing, ends it) and returns the route with `start`, which begins
 * accepting. Bound but not started, `abort` closes it again.
 */
export const openRoute = (
  config: RouteConfig,
  shared: RouteShared,
  parent: Scope.Scope
): Effect.Effect<
  { readonly route: LiveRoute; readonly start: Effect.Effect<void>; readonly abort: Effect.Effect<void> },
  ListenError
> =>
  Effect.gen(function*() {
    const scope = yield* Scope.fork(parent, ExecutionStrategy.sequential)
    const closeAll = Scope.close(scope, Exit.void)
    const listenerScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
    const firstListener = yield* Scope.extend(Tcp.listen(config.listen), listenerScope).pipe(
      Effect.tapError(() => closeAll)
    )
    // Opened after the listener, so it closes first: sessions are interrupted before their sockets are destroyed.
    const sessionsScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
    const sessions = yield* Scope.extend(FiberSet.make(), sessionsScope)
    const drain = new Drain()
    const generations: Array<Generation> = []
    // Open sessions of every generation: a reload tells them of destinations added and removed.
    const openSessions = new Set<LiveSession>()
    // One for the route, whatever its generation: a certificate reload reaches every new connection.
    const tls = yield* RouteTls.load(config)
    yield* Effect.forEach(
      config.destinations.filter((d) => d.tlsSettings?.insecureSkipVerify === true),
      (d) => Effect.logWarning(insecureWarning(formatEndpoint(d))),
      { discard: true }
    ).pipe(Effect.annotateLogs({ route: config.name }))

    const makeGeneration = (next: RouteConfig, previous: Generation | undefined) =>
      Effect.gen(function*() {
        // Counters stay while the destinations do; a new list gets new counters, as its sessions' links are by position.
        const counters = previous !== undefined && sameDestinations(previous.config.destinations, next.destinations)
          ? previous.counters
          : new ProxyCounters(
            next.destinations.map((destination) => new DestinationHealth(formatEndpoint(destination)))
          )
        // Once a route is framed, its message metrics stay (its open connections may still be).
        if (next.framing !== "none") counters.framed = true
        // A reload's new settings bring their certificate files (checked with the file).
        if (previous !== undefined) yield* tls.follow(next)
        if (tls.used || next.destinations.some((d) => d.tls === true)) counters.tls = true
        counters.listenerCertificateExpiry = tls.listener?.expiresAt
        if (counters !== previous?.counters) {
          // Connection ids go on from the previous generation's, so a route's ids never repeat.
          counters.acceptedConnections = previous?.counters.acceptedConnections ?? 0
          yield* Scope.extend(registerProxy(counters, shared.fibers, next.name), scope)
        }
        // One idle watch per idle timeout: a reload that keeps it keeps the watch; the old one goes on for its sessions.
        const idle = previous !== undefined && Duration.equals(previous.config.idleTimeout, next.idleTimeout)
          ? previous.context.idle
          : new IdleWatch(Duration.toMillis(next.idleTimeout))
        if (idle !== previous?.context.idle) yield* Effect.forkIn(Effect.interruptible(idle.run), scope)
        const generation: Generation = {
          counters,
          config: next,
          context: {
            config: sessionConfig(next, shared),
            counters,
            drain,
            idle,
            links: next.destinations,
            sessions: openSessions,
            route: next.name,
            destinations,
            tls
          },
          admission: new Admission(
            counters,
            next.allow === undefined ? undefined : new AllowList(next.allow),
            next.maxConnections
          )
        }
        if (counters !== previous?.counters) generations.push(generation)
        return generation
      })

    const destinations = yield* SubscriptionRef.make<ReadonlyArray<DestinationConfig>>(config.destinations)
    let current = yield* makeGeneration(config, undefined)
    let currentConfig = config
    let listener = firstListener
    const acceptors: Array<Fiber.RuntimeFiber<never>> = []

    const startAccepting = (on: Tcp.TcpListener) =>
      // Interruptible whatever the caller is (a reload commits uninterruptibly): sessions interrupt their own fibers.
      Effect.supervised(
        Effect.forkIn(Effect.interruptible(acceptLoop(on, sessions, () => current)), scope),
        shared.fibers
      ).pipe(
        Effect.map((fiber) => {
          acceptors.push(fiber)
        })
      )

    const prepare = (next: RouteConfig): Effect.Effect<Prepared, ListenError> =>
      Effect.gen(function*() {
        const rebind = !sameListen(currentConfig.listen, next.listen)
        const newScope = rebind ? yield* Scope.fork(scope, ExecutionStrategy.sequential) : undefined
        const newListener = newScope === undefined
          ? undefined
          : yield* Scope.extend(Tcp.listen(next.listen), newScope).pipe(
            Effect.tapError(() => Scope.close(newScope, Exit.void))
          )
        const commit = Effect.gen(function*() {
          const previous = current
          current = yield* makeGeneration(next, current)
          currentConfig = next
          if (!sameDestinations(previous.config.destinations, next.destinations)) {
            const health = new Map(current.counters.destinations.map((h) => [h.name, h]))
            yield* Effect.forEach(
              [...openSessions],
              (session) => session.follow(next.destinations, (name) => health.get(name)),
              {
                discard: true
              }
            )
          }
          yield* SubscriptionRef.set(destinations, next.destinations)
          if (newListener !== undefined) {
            const old = listener
            // The new address accepts before the old one closes; the old listener's open connections stay.
            yield* startAccepting(newListener)
            listener = newListener
            yield* old.stopAccepting
            yield* Effect.logInfo(
              `listening on ${formatEndpoint(newListener.address)} instead of ${formatEndpoint(old.address)}, ` +
                `forwarding to ${next.destinations.map(formatEndpoint).join(", ")}`
            ).pipe(Effect.annotateLogs({ route: next.name }))
          }
        })
        return { commit, abort: newScope === undefined ? Effect.void : Scope.close(newScope, Exit.void) }
      })

    let stopped = false
    const stop = (drainTimeout: Duration.Duration) =>
      Effect.gen(function*() {
        if (stopped) return
        stopped = true
        yield* listener.stopAccepting
        // Refusals since the last 30-second summary: said now, or never.
        yield* current.admission.flush()
        yield* drain.start()
        // Finalizers run uninterruptibly: without `interruptible`, the timeout could not cut the wait short.
        const drained = yield* FiberSet.awaitEmpty(sessions).pipe(
          Effect.interruptible,
          Effect.timeoutOption(drainTimeout)
        )
        if (drained._tag === "None") {
          const left = yield* FiberSet.size(sessions)
          yield* Effect.logWarning(`shutdown: closing ${left} connection(s) that did not finish flushing`)
        }
        yield* Scope.close(sessionsScope, Exit.void)
        yield* closeAll
      }).pipe(Effect.annotateLogs({ route: config.name }))

    const route: LiveRoute = {
      name: config.name,
      address: () => listener.address,
      config: () => currentConfig,
      destinations,
      stats: Effect.sync(() => mergeStats(generations.map((g) => g.counters), current.counters)),
      prepare,
      stop,
      reloadCertificates: Effect.flatMap(tls.reload(), (reloaded) =>
        Effect.sync(() => {
          if (reloaded) current.counters.listenerCertificateExpiry = tls.listener?.expiresAt
        })).pipe(Effect.annotateLogs({ route: config.name }))
    }
    return { route, start: startAccepting(firstListener), abort: closeAll }
  })

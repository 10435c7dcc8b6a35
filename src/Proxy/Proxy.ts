import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { ProxyConfig } from "./Config.js"
import { proxyConfigFromEnv } from "./Config.js"
import { formatEndpoint } from "./Endpoint.js"
import type { Endpoint } from "./Endpoint.js"
import { DestinationHealth } from "./DestinationHealth.js"
import { Drain } from "./Drain.js"
import type { InvalidConfig, ListenError, MissingConfig } from "./Errors.js"
import { Admission } from "./Admission.js"
import { AllowList } from "./Cidr.js"
import { describeSettings } from "./EffectiveSettings.js"
import { FiberCounter } from "./FiberCounter.js"
import { IdleWatch } from "./IdleWatch.js"
import { acceptLoop } from "./Listener.js"
import { registerProxy } from "./ProxyMetrics.js"
import { Readiness } from "./Readiness.js"
import type { ProxyStats } from "./Stats.js"
import { ProxyCounters } from "./Stats.js"
import * as Tcp from "./Tcp.js"

export interface ProxyService {
  /** The address actually bound: with `--listen 0` this holds the port the OS chose. */
  readonly address: Endpoint
  /** Where `/metrics` and `/healthz` are served, when `metrics` was configured. */
  readonly metricsAddress: Endpoint | undefined
  /** A snapshot of the live counters. */
  readonly stats: Effect.Effect<ProxyStats>
}

/** The running proxy, provided by `layer` / `layerFromEnv`. */
export class Proxy extends Context.Tag("socket-proxy/Proxy")<Proxy, ProxyService>() {}

/**
 * Starts the proxy in the current scope: listening when this returns, and on
 * scope close: stop accepting, let open connections flush for up to
 * `drainTimeout`, then close every socket that is left.
 */
export const make = (config: ProxyConfig): Effect.Effect<ProxyService, ListenError, Scope.Scope> =>
  Effect.gen(function*() {
    const counters = new ProxyCounters(
      config.destinations.map((destination) => new DestinationHealth(formatEndpoint(destination)))
    )
    const drain = new Drain()
    const idle = new IdleWatch(Duration.toMillis(config.idleTimeout))
    const readiness = new Readiness()
    const fibers = new FiberCounter()
    yield* registerProxy(counters, fibers)
    // Finalizers run in reverse: the metrics server (503 while draining) and then
    // the listener (which destroys any socket still open) go last, after the
    // sessions have been drained and then interrupted.
    // The metrics server (and the OpenTelemetry and prom-client code behind it) is loaded only when asked for.
    const metrics = config.metrics
    const metricsAddress = metrics === undefined ? undefined : yield* Effect.flatMap(
      Effect.promise(() => import("./MetricsServer.js")),
      (server) => server.serveMetrics(metrics, readiness)
    )
    const listener = yield* Tcp.listen(config.listen)
    const sessions = yield* FiberSet.make()
    const admission = new Admission(
      counters,
      config.allow === undefined ? undefined : new AllowList(config.allow),
      config.maxConnections
    )
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        readiness.state = "draining"
        yield* listener.stopAccepting
        const open = yield* FiberSet.size(sessions)
        yield* Effect.logInfo(`shutting down: draining ${open} connection(s)`)
        // Refusals since the last 30-second summary: said now, or never.
        yield* admission.flush()
        yield* drain.start()
        // Finalizers run uninterruptibly: without `interruptible`, the timeout could not cut the wait short.
        const drained = yield* FiberSet.awaitEmpty(sessions).pipe(
          Effect.interruptible,
          Effect.timeoutOption(config.drainTimeout)
        )
        if (drained._tag === "None") {
          const left = yield* FiberSet.size(sessions)
          yield* Effect.logWarning(`shutdown: closing ${left} connection(s) that did not finish flushing`)
        }
      })
    )
    const context = { config, counters, drain, idle }
    yield* Effect.forkScoped(idle.run)
    // Every fiber of the proxy's data path descends from the accept loop, so this counts them all.
    yield* Effect.supervised(Effect.forkScoped(acceptLoop(listener, sessions, context, admission)), fibers)
    const address = listener.address
    if (metricsAddress !== undefined) {
      yield* Effect.logInfo(`metrics and health on http://${formatEndpoint(metricsAddress)} (/metrics, /healthz)`)
    }
    yield* Effect.logInfo(
      `listening on ${formatEndpoint(address)}, forwarding to ${config.destinations.map(formatEndpoint).join(", ")} (${
        describeSettings(config, metricsAddress)
      })`
    )
    readiness.state = "ready"
    return { address, metricsAddress, stats: Effect.sync(() => counters.snapshot()) }
  })

/** The proxy as a Layer: listening once built, shut down cleanly when its scope closes. */
export const layer = (config: ProxyConfig): Layer.Layer<Proxy, ListenError> => Layer.scoped(Proxy, make(config))

/** The proxy configured from the `SOCKET_PROXY_*` environment variables. */
export const layerFromEnv: Layer.Layer<Proxy, ListenError | InvalidConfig | MissingConfig> = Layer.scoped(
  Proxy,
  Effect.flatMap(proxyConfigFromEnv, make)
)

import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import type { ProxyConfig } from "./Settings/Config.js"
import { defaultRouteName, proxyConfigFromEnv } from "./Settings/Config.js"
import type { Endpoint } from "./Settings/Endpoint.js"
import { formatEndpoint } from "./Settings/Endpoint.js"
import type { InvalidConfig, ListenError, MissingConfig } from "./Errors.js"
import { FiberCounter } from "./Observability/FiberCounter.js"
import { Readiness } from "./Observability/Readiness.js"
import type { RouteConfig, RoutesConfig } from "./Routes/Routes.js"
import type { RouteSet } from "./Routes/RouteSet.js"
import { makeRouteSet } from "./Routes/RouteSet.js"
import type { ProxyStats } from "./Observability/Stats.js"

export interface ProxyService {
  /** The address actually bound: with `--listen 0` this holds the port the OS chose. */
  readonly address: Endpoint
  /** Where `/metrics` and `/healthz` are served, when `metrics` was configured. */
  readonly metricsAddress: Endpoint | undefined
  /** A snapshot of the live counters. */
  readonly stats: Effect.Effect<ProxyStats>
  /**
   * Reads the certificate files again (what SIGHUP does): new connections get the
   * new certificates, open ones keep theirs; a bad file changes nothing and is logged.
   */
  readonly reloadCertificates: Effect.Effect<void>
}

/** The running proxy, provided by `layer` / `layerFromEnv`. */
export class Proxy extends Context.Tag("socket-proxy/Proxy")<Proxy, ProxyService>() {}

/** A proxy with any number of routes, as a configuration file gives them. */
export interface RoutesService {
  /** Where `/metrics` and `/healthz` are served, when `metrics` was configured. */
  readonly metricsAddress: Endpoint | undefined
  /** The routes running now, and the reload that changes them. */
  readonly routes: RouteSet
}

/** The running routes, provided by `routesLayer`. */
export class Routes extends Context.Tag("socket-proxy/Routes")<Routes, RoutesService>() {}

/**
 * Starts every route of `config` in the current scope: each listening (all
 * bound before any accepts) when this returns. On scope close: every route stops
 * accepting, lets its open connections flush for up to `drainTimeout`, then
 * closes every socket that is left. `/healthz` is 200 while every route listens.
 */
export const makeRoutes = (config: RoutesConfig): Effect.Effect<RoutesService, ListenError, Scope.Scope> =>
  Effect.gen(function*() {
    const readiness = new Readiness()
    const fibers = new FiberCounter()
    // Finalizers run in reverse: the metrics server (503 while draining) goes last,
    // after the routes have been drained; each route's listener after its sessions.
    // The metrics server (and the OpenTelemetry and prom-client code behind it) is loaded only when asked for.
    const metrics = config.metrics
    const metricsAddress = metrics === undefined ? undefined : yield* Effect.flatMap(
      Effect.promise(() => import("./Observability/MetricsServer.js")),
      (server) => server.serveMetrics(metrics, readiness)
    )
    const scope = yield* Effect.scope
    const routesScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
    const { set, start } = yield* makeRouteSet(config, fibers, routesScope)
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        readiness.state = "draining"
        const open = yield* Effect.map(
          Effect.forEach(set.routes(), (route) => route.stats),
          (all) => all.reduce((n, stats) => n + stats.openConnections, 0)
        )
        yield* Effect.logInfo(`shutting down: draining ${open} connection(s)`)
        yield* set.stopAll
      })
    )
    if (metricsAddress !== undefined) {
      yield* Effect.logInfo(`metrics and health on http://${formatEndpoint(metricsAddress)} (/metrics, /healthz)`)
    }
    yield* start
    readiness.state = "ready"
    return { metricsAddress, routes: set }
  })

/** The one route of a proxy configured by flags, the environment or `makeProxyConfig`. */
export const routeOf = (config: ProxyConfig): RouteConfig => ({
  name: config.name ?? defaultRouteName,
  listen: config.listen,
  destinations: config.destinations.map((d) => ({
    host: d.host,
    port: d.port,
    tls: d.tls,
    bufferBytes: config.bufferBytes,
    writeTimeout: config.writeTimeout,
    connectTimeout: config.connectTimeout,
    sample: 1,
    sendProxyProtocol: config.sendProxyProtocol
  })),
  connectTimeout: config.connectTimeout,
  writeTimeout: config.writeTimeout,
  idleTimeout: config.idleTimeout,
  bufferBytes: config.bufferBytes,
  maxConnections: config.maxConnections,
  allow: config.allow,
  framing: config.framing,
  maxMessageBytes: config.maxMessageBytes,
  acceptProxyProtocol: config.acceptProxyProtocol,
  sendProxyProtocol: config.sendProxyProtocol,
  listenerTls: config.listenerTls,
  destinationTls: config.destinationTls
})

/**
 * Starts the proxy in the current scope: listening when this returns, and on
 * scope close: stop accepting, let open connections flush for up to
 * `drainTimeout`, then close every socket that is left.
 */
export const make = (config: ProxyConfig): Effect.Effect<ProxyService, ListenError, Scope.Scope> =>
  Effect.map(
    makeRoutes({
      metrics: config.metrics,
      drainTimeout: config.drainTimeout,
      logLevel: undefined,
      logFormat: undefined,
      routes: [routeOf(config)]
    }),
    ({ metricsAddress, routes }) => {
      const route = routes.routes()[0]!
      return {
        address: route.address(),
        metricsAddress,
        stats: route.stats,
        reloadCertificates: route.reloadCertificates
      }
    }
  )

/** The proxy as a Layer: listening once built, shut down cleanly when its scope closes. */
export const layer = (config: ProxyConfig): Layer.Layer<Proxy, ListenError> => Layer.scoped(Proxy, make(config))

/** Several routes as a Layer: listening once built, shut down cleanly when its scope closes. */
export const routesLayer = (config: RoutesConfig): Layer.Layer<Routes, ListenError> =>
  Layer.scoped(Routes, makeRoutes(config))

/** The proxy configured from the `SOCKET_PROXY_*` environment variables. */
export const layerFromEnv: Layer.Layer<Proxy, ListenError | InvalidConfig | MissingConfig> = Layer.scoped(
  Proxy,
  Effect.flatMap(proxyConfigFromEnv, make)
)

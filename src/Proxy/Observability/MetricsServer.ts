import * as OtelMetrics from "@effect/opentelemetry/Metrics"
import * as OtelResource from "@effect/opentelemetry/Resource"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import type { MetricProducer } from "@opentelemetry/sdk-metrics"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as http from "node:http"
import type * as net from "node:net"
import type { Endpoint, ListenAddress } from "../Settings/Endpoint.js"
import { formatEndpoint } from "../Settings/Endpoint.js"
import { ListenError } from "../Errors.js"
import { metricPrefix } from "./MetricNames.js"
import { processMetricsText } from "./ProcessMetrics.js"
import { refreshMetrics } from "./ProxyMetrics.js"
import type { Readiness } from "./Readiness.js"
import { describeSocketError } from "../DataPath/Tcp.js"

/*
 * Why this exporter: the issue asks for a maintained one from the Effect /
 * OpenTelemetry ecosystem rather than hand-formatted text. @effect/opentelemetry
 * turns Effect's metric registry into OpenTelemetry metric data, and
 * @opentelemetry/exporter-prometheus's serializer writes it in the Prometheus
 * text format. It costs the data path nothing: metrics are filled from plain
 * counters at scrape time (`ProxyMetrics.ts`), and serializing happens only when
 * someone scrapes. The exporter's own HTTP server is not used: ours answers
 * `/healthz` too, and is a scoped resource like every other socket.
 * Scope labels and `target_info` are left out, so the scrape shows exactly the
 * agreed names and labels.
 */

/**
 * The producer reads Effect's whole metric registry, which also holds Effect's
 * own runtime metrics (`effect_fiber_*`); the scrape shows only the proxy's.
 */
const onlyProxyMetrics = (producer: MetricProducer): MetricProducer => ({
  collect: (options) =>
    producer.collect(options).then((result) => ({
      ...result,
      resourceMetrics: {
        ...result.resourceMetrics,
        scopeMetrics: result.resourceMetrics.scopeMetrics.map((scope) => ({
          ...scope,
          metrics: scope.metrics
            .filter((metric) => metric.descriptor.name.startsWith(metricPrefix))
            // Effect gives every metric the unit "1", which the serializer writes as a
            // `# UNIT` line: OpenMetrics has those, the 0.0.4 text format served here does not.
            .map((metric) => ({ ...metric, descriptor: { ...metric.descriptor, unit: "" } }))
        }))
      }
    }))
})

type Request = { readonly request: http.IncomingMessage; readonly response: http.ServerResponse }

const errorCode = (error: unknown): string =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
    ? error.code
    : "UNKNOWN"

const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

const reply = (
  response: http.ServerResponse,
  status: number,
  body: string,
  contentType = "text/plain; charset=utf-8"
) =>
  Effect.sync(() => {
    response.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body) })
    response.end(body)
  })

/**
 * Serves `GET /metrics` (Prometheus text format 0.0.4) and `GET /healthz` (200
 * `ok` when ready, 503 while starting or draining) on `address` until the scope
 * closes. Returns the address bound. An address that cannot be bound is a
 * `ListenError`, like the proxy's own.
 */
export const serveMetrics = (
  address: ListenAddress,
  readiness: Readiness
): Effect.Effect<Endpoint, ListenError, Scope.Scope> =>
  Effect.gen(function*() {
    const exporter = new PrometheusExporter({
      preventServerStart: true,
      withoutScopeInfo: true,
      withoutTargetInfo: true
    })
    const producer = onlyProxyMetrics(
      yield* OtelMetrics.makeProducer.pipe(Effect.provide(OtelResource.layer({ serviceName: "socket-proxy" })))
    )
    yield* OtelMetrics.registerProducer(producer, () => exporter)
    const serializer = new PrometheusSerializer(undefined, false, undefined, true, true)

    const requests = yield* Effect.acquireRelease(Queue.unbounded<Request>(), Queue.shutdown)
    const server = yield* Effect.acquireRelease(
      Effect.async<http.Server, ListenError>((resume) => {
        const server = http.createServer((request, response) => {
          Queue.unsafeOffer(requests, { request, response })
        })
        const onListenError = (error: Error) => {
          server.close()
          resume(Effect.fail(
            new ListenError({
              address: `${formatEndpoint(address)} (metrics)`,
              code: errorCode(error),
              reason: describeSocketError(error)
            })
          ))
        }
        server.once("error", onListenError)
        server.listen({ host: address.host, port: address.port }, () => {
          server.off("error", onListenError)
          server.on("error", () => {})
          resume(Effect.succeed(server))
        })
      }),
      (server) =>
        Effect.sync(() => {
          server.close(() => {})
          server.closeAllConnections()
        })
    )

    const proxyMetricsText = Effect.zipRight(
      refreshMetrics,
      Effect.map(
        Effect.tryPromise(() => exporter.collect()),
        (result) => serializer.serialize(result.resourceMetrics)
      )
    )
    const metricsText = Effect.zipWith(
      proxyMetricsText,
      Effect.mapError(processMetricsText, (error) => ({ error })),
      (proxy, process) => `${proxy}${proxy.endsWith("\n") || proxy === "" ? "" : "\n"}${process}`
    )

    const handle = ({ request, response }: Request): Effect.Effect<void> => {
      const path = (request.url ?? "/").split("?")[0]
      if (request.method !== "GET" && request.method !== "HEAD") return reply(response, 405, "method not allowed\n")
      if (path === "/healthz") {
        return readiness.state === "ready"
          ? reply(response, 200, "ok\n")
          : reply(response, 503, `${readiness.state}\n`)
      }
      if (path === "/metrics") {
        return metricsText.pipe(
          Effect.matchEffect({
            onSuccess: (text) => reply(response, 200, text, prometheusContentType),
            onFailure: (error) =>
              Effect.logError(`collecting metrics failed: ${String(error.error)}`).pipe(
                Effect.zipRight(reply(response, 500, "collecting metrics failed\n"))
              )
          })
        )
      }
      return reply(response, 404, "not found: try /metrics or /healthz\n")
    }

    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(requests), handle)))
    const bound = server.address() as net.AddressInfo
    return { host: bound.address, port: bound.port }
  })

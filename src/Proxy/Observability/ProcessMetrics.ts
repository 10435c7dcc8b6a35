import * as Effect from "effect/Effect"
import { globalValue } from "effect/GlobalValue"
import { collectDefaultMetrics, Registry } from "prom-client"

/*
 * The process metrics every Prometheus dashboard expects, under their
 * conventional names: `process_cpu_seconds_total`, `process_resident_memory_bytes`,
 * `process_open_fds`, `process_max_fds`, `process_start_time_seconds`, and
 * Node's `nodejs_eventloop_lag_*`, `nodejs_heap_*`, `nodejs_gc_duration_seconds`.
 *
 * From prom-client's default collectors (the maintained Prometheus client for
 * Node), in a registry of their own, appended to the text the OpenTelemetry
 * serializer writes for the proxy's own metrics. Why not
 * `@opentelemetry/host-metrics` / `instrumentation-runtime-node`: they name the
 * same facts after OpenTelemetry's conventions (`process.cpu.time` becomes
 * `process_cpu_time_seconds_total`, `process.memory.usage`...) and have no open
 * or maximum descriptors nor start time, so the names dashboards and alerts
 * look for would have to be made by hand.
 *
 * One registry per process, started by the first metrics server: the collectors
 * read `/proc/self` and `process` at scrape time; the event-loop lag comes from
 * `perf_hooks.monitorEventLoopDelay`, sampled by libuv, off the data path.
 */
const registry = globalValue(Symbol.for("socket-proxy/ProcessMetrics/registry"), () => {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  return registry
})

/** The process metrics in the Prometheus text format 0.0.4, ready to append to a scrape. */
export const processMetricsText: Effect.Effect<string, unknown> = Effect.tryPromise({
  try: () => registry.metrics(),
  catch: (error) => error
})

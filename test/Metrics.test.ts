import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { formatEndpoint } from "../src/Proxy/Settings/Endpoint.js"
import { serveMetrics } from "../src/Proxy/Observability/MetricsServer.js"
import { Readiness } from "../src/Proxy/Observability/Readiness.js"
import { destination, freePort, loopback, pattern, source } from "./support/Peers.js"
import { httpGet, parseScrape, sample, scrape, scrapeUntil } from "./support/Scrape.js"
import { startProxy, statsUntil } from "./support/TestProxy.js"

const metricsOnLoopback = { metrics: { host: loopback, port: 0 } }

/** The metrics port of a proxy started with `metricsOnLoopback`. */
const metricsPort = (proxy: { readonly metricsAddress: { readonly port: number } | undefined }): number => {
  if (proxy.metricsAddress === undefined) throw new Error("the proxy serves no metrics")
  return proxy.metricsAddress.port
}

describe("/metrics", () => {
  it.scopedLive("shows bytes per destination, which destination is down, and how many bytes it missed", () =>
    Effect.gen(function*() {
      const up = yield* destination()
      const downPort = yield* freePort()
      const upName = formatEndpoint(up.endpoint)
      const downName = formatEndpoint({ host: loopback, port: downPort })
      const proxy = yield* startProxy([up.endpoint, { host: loopback, port: downPort }], metricsOnLoopback)
      const port = metricsPort(proxy)
      // Effect's metric registry is per process: other tests of this file add to the totals.
      const before = yield* scrape(port)
      const total = (samples: ReadonlyMap<string, number>, key: string) =>
        (samples.get(key) ?? 0) - (before.get(key) ?? 0)

      const s = yield* source(proxy.address.port)
      const first = pattern(1000, 7)
      yield* s.write(first)
      yield* up.until(() => up.totalBytes() === first.length)
      const open = yield* scrapeUntil(
        port,
        (m) => m.get(`socket_proxy_destination_up{destination="${downName}",route="default"}`) === 0
      )
      expect(sample(open, "socket_proxy_connections_open{route=\"default\"}")).toBe(1)
      expect(sample(open, `socket_proxy_destination_up{destination="${upName}",route="default"}`)).toBe(1)
      expect(sample(open, `socket_proxy_destination_connections_open{destination="${upName}",route="default"}`)).toBe(1)
      expect(sample(open, `socket_proxy_destination_connections_open{destination="${downName}",route="default"}`)).toBe(
        0
      )
      // Held for the destination that is down, until the source ends.
      expect(sample(open, `socket_proxy_bytes_buffered{destination="${downName}",route="default"}`)).toBe(first.length)
      expect(sample(open, `socket_proxy_bytes_buffered{destination="${upName}",route="default"}`)).toBe(0)
      expect(sample(open, `socket_proxy_destination_connect_failures_total{destination="${downName}",route="default"}`))
        .toBeGreaterThanOrEqual(1)
      expect(sample(open, `socket_proxy_fibers_active`)).toBeGreaterThan(sample(before, "socket_proxy_fibers_active"))

      const second = pattern(2345, 8)
      yield* s.write(second)
      yield* s.end
      yield* up.until(() => up.connections[0]!.ended)
      yield* statsUntil(proxy, (stats) => stats.openConnections === 0)
      const after = yield* scrape(port)
      const sent = first.length + second.length
      expect(total(after, "socket_proxy_connections_accepted_total")).toBe(1)
      expect(sample(after, "socket_proxy_connections_open{route=\"default\"}")).toBe(0)
      expect(total(after, "socket_proxy_bytes_received_total")).toBe(sent)
      expect(sample(after, `socket_proxy_bytes_delivered_total{destination="${upName}",route="default"}`)).toBe(sent)
      expect(sample(after, `socket_proxy_bytes_dropped_total{destination="${upName}",route="default"}`)).toBe(0)
      expect(sample(after, `socket_proxy_bytes_delivered_total{destination="${downName}",route="default"}`)).toBe(0)
      expect(sample(after, `socket_proxy_bytes_dropped_total{destination="${downName}",route="default"}`)).toBe(sent)
      expect(sample(after, `socket_proxy_bytes_buffered{destination="${downName}",route="default"}`)).toBe(0)
      expect(sample(after, `socket_proxy_destination_up{destination="${downName}",route="default"}`)).toBe(0)
      expect(sample(after, `socket_proxy_destination_up{destination="${upName}",route="default"}`)).toBe(1)
      expect(sample(after, `socket_proxy_destination_connections_open{destination="${upName}",route="default"}`)).toBe(
        0
      )
      expect(sample(after, `socket_proxy_destination_write_stalls_cut_total{destination="${upName}",route="default"}`))
        .toBe(0)
      expect(sample(after, `socket_proxy_destination_reconnects_total{destination="${upName}",route="default"}`)).toBe(
        0
      )
      expect(total(after, "socket_proxy_session_duration_seconds_count")).toBe(1)
      expect(sample(after, `socket_proxy_connections_refused_total{reason="max_connections"}`)).toBe(0)
      expect(sample(after, `socket_proxy_connections_refused_total{reason="not_allowed"}`)).toBe(0)
    }))

  it.scopedLive("counts a destination that comes back as a reconnect", () =>
    Effect.gen(function*() {
      const first = yield* destination()
      const name = formatEndpoint(first.endpoint)
      const proxy = yield* startProxy([first.endpoint], metricsOnLoopback)
      const port = metricsPort(proxy)
      const s = yield* source(proxy.address.port)
      yield* s.write("one")
      yield* first.until(() => first.totalBytes() === 3)
      yield* first.kill
      // The same port again: the destination restarts.
      const again = yield* destination({ port: first.port })
      yield* s.write("two")
      yield* again.until(() => again.totalBytes() === 3)
      const samples = yield* scrapeUntil(port, (m) =>
        m.get(`socket_proxy_destination_reconnects_total{destination="${name}",route="default"}`) === 1)
      expect(sample(samples, `socket_proxy_destination_up{destination="${name}",route="default"}`)).toBe(1)
      expect(sample(samples, `socket_proxy_bytes_delivered_total{destination="${name}",route="default"}`)).toBe(6)
    }))

  it.scopedLive("is Prometheus text format 0.0.4 with exactly the agreed names", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const proxy = yield* startProxy([d.endpoint], metricsOnLoopback)
      // One connection through, so the destination's state and a session's duration are known.
      const s = yield* source(proxy.address.port)
      yield* s.write("x")
      yield* s.end
      yield* d.until(() => d.connections[0]?.ended === true)
      yield* statsUntil(proxy, (stats) => stats.openConnections === 0)
      const reply = yield* httpGet(metricsPort(proxy), "/metrics")
      expect(reply.status).toBe(200)
      expect(reply.contentType).toContain("text/plain; version=0.0.4")
      const names = new Set(
        reply.body.split("\n").filter((line) => line.startsWith("# TYPE ")).map((line) => line.split(" ")[2]!)
      )
      expect([...names].filter((name) => name.startsWith("socket_proxy_")).sort()).toEqual([
        "socket_proxy_bytes_buffered",
        "socket_proxy_bytes_delivered_total",
        "socket_proxy_bytes_dropped_total",
        "socket_proxy_bytes_received_total",
        "socket_proxy_connections_accepted_total",
        "socket_proxy_connections_open",
        "socket_proxy_connections_refused_total",
        "socket_proxy_destination_connect_failures_total",
        "socket_proxy_destination_connections_open",
        "socket_proxy_destination_reconnects_total",
        "socket_proxy_destination_sampled_out_total",
        "socket_proxy_destination_up",
        "socket_proxy_destination_write_stalls_cut_total",
        "socket_proxy_fibers_active",
        "socket_proxy_session_duration_seconds"
      ])
      // The standard process metrics, under the names dashboards expect.
      for (
        const name of [
          "process_cpu_seconds_total",
          "process_resident_memory_bytes",
          "process_open_fds",
          "process_max_fds",
          "process_start_time_seconds",
          "nodejs_eventloop_lag_seconds",
          "nodejs_heap_size_used_bytes",
          "nodejs_heap_size_total_bytes"
        ]
      ) expect(names, name).toContain(name)
      const samples = parseScrape(reply.body)
      expect(sample(samples, "process_open_fds")).toBeGreaterThan(0)
      expect(sample(samples, "process_resident_memory_bytes")).toBeGreaterThan(10_000_000)
      expect(Math.abs(sample(samples, "process_start_time_seconds") - (Date.now() / 1000 - process.uptime())))
        .toBeLessThan(5)
    }))

  it.scopedLive("has only lines the 0.0.4 text format allows: no # UNIT, every sample under a # TYPE", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const proxy = yield* startProxy([d.endpoint], metricsOnLoopback)
      const reply = yield* httpGet(metricsPort(proxy), "/metrics")
      expect(reply.contentType).toBe("text/plain; version=0.0.4; charset=utf-8")
      const name = "[a-zA-Z_:][a-zA-Z0-9_:]*"
      const help = new RegExp(`^# HELP (${name}) .*$`)
      const type = new RegExp(`^# TYPE (${name}) (counter|gauge|histogram|summary|untyped)$`)
      // "as Go's ParseFloat reads it": NaN and Inf in any case (prom-client writes "Nan").
      const value = String.raw`(?:[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?[iI][nN][fF]|[nN][aA][nN])`
      const label = String.raw`[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"`
      const sampleLine = new RegExp(`^(${name})(?:\\{(?:${label}(?:,${label})*,?)?\\})? ${value}(?: -?\\d+)?$`)
      const typed = new Map<string, string>()
      const bad: Array<string> = []
      for (const line of reply.body.split("\n")) {
        if (line.trim() === "" || help.test(line)) continue
        const t = type.exec(line)
        if (t !== null) {
          typed.set(t[1]!, t[2]!)
          continue
        }
        const m = sampleLine.exec(line)
        const family = m?.[1]?.replace(/_(bucket|sum|count)$/, "")
        if (m === null || (!typed.has(m[1]!) && (family === undefined || !typed.has(family)))) bad.push(line)
      }
      expect(bad).toEqual([])
      expect(typed.size).toBeGreaterThan(20)
    }))
})

describe("/healthz", () => {
  it.scopedLive("is 200 ok once listening; other paths are 404", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const proxy = yield* startProxy([d.endpoint], metricsOnLoopback)
      const health = yield* httpGet(metricsPort(proxy), "/healthz")
      expect(health).toMatchObject({ status: 200, body: "ok\n" })
      expect((yield* httpGet(metricsPort(proxy), "/nope")).status).toBe(404)
    }))

  it.scopedLive("is 503 while starting and while draining, 200 only when ready", () =>
    Effect.gen(function*() {
      const readiness = new Readiness()
      const { port } = yield* serveMetrics({ host: loopback, port: 0 }, readiness)
      expect(yield* httpGet(port, "/healthz")).toMatchObject({ status: 503, body: "starting\n" })
      readiness.state = "ready"
      expect(yield* httpGet(port, "/healthz")).toMatchObject({ status: 200, body: "ok\n" })
      readiness.state = "draining"
      expect(yield* httpGet(port, "/healthz")).toMatchObject({ status: 503, body: "draining\n" })
    }))

  it.scopedLive("a metrics address in use is a ListenError naming it", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const first = yield* startProxy([d.endpoint], metricsOnLoopback)
      const error = yield* Effect.flip(
        startProxy([d.endpoint], { metrics: { host: loopback, port: metricsPort(first) } })
      )
      expect(error._tag).toBe("ListenError")
      expect(error.code).toBe("EADDRINUSE")
      expect(error.message).toContain(`${loopback}:${metricsPort(first)} (metrics)`)
    }))
})

describe("socket_proxy_fibers_active", () => {
  it.scopedLive("rises with open connections and returns to its baseline once they close", () =>
    Effect.gen(function*() {
      const d1 = yield* destination()
      const d2 = yield* destination()
      const proxy = yield* startProxy([d1.endpoint, d2.endpoint], metricsOnLoopback)
      const port = metricsPort(proxy)
      const baseline = sample(yield* scrape(port), "socket_proxy_fibers_active")
      expect(baseline).toBeGreaterThanOrEqual(1)
      const sources = yield* Effect.all([1, 2, 3].map(() => source(proxy.address.port)))
      yield* Effect.forEach(sources, (s) => s.write("x"), { discard: true })
      yield* d1.until(() => d1.totalBytes() === 3)
      yield* d2.until(() => d2.totalBytes() === 3)
      const busy = sample(yield* scrape(port), "socket_proxy_fibers_active")
      // At least a session, its reader and a forwarder per destination for each source.
      expect(busy).toBeGreaterThanOrEqual(baseline + 3 * 3)
      yield* Effect.forEach(sources, (s) => s.end, { discard: true })
      yield* statsUntil(proxy, (stats) => stats.openConnections === 0)
      yield* scrapeUntil(port, (m) => m.get("socket_proxy_fibers_active") === baseline)
    }))
})

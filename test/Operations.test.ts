/**
 * What an operator sees of a running proxy process: JSON log lines, and
 * `/healthz` through a SIGTERM drain. Real processes (`tsx src/main.ts proxy`),
 * ephemeral ports, readiness from the log lines.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import type { CliProcess } from "./support/Cli.js"
import { listeningPort, nonEmptyLines, spawnCli } from "./support/Cli.js"
import { destination, loopback, pattern, source } from "./support/Peers.js"
import { httpGet, httpGetOrGone, sample, scrape, scrapeUntil } from "./support/Scrape.js"

const listenAnywhere = ["--listen", `${loopback}:0`] as const
const metricsAnywhere = ["--metrics", `${loopback}:0`] as const

/** The port of `/metrics` and `/healthz`, from the proxy's start-up line. */
const metricsPort = (cli: CliProcess) =>
  Effect.map(cli.waitForLine(/metrics and health on http:\/\/\S+:(\d+)/), (match) => Number(match[1]))

interface JsonLine {
  readonly message: string
  readonly logLevel: string
  readonly timestamp: string
  readonly annotations: Record<string, unknown>
}

describe("--log-format json", () => {
  it.scopedLive("every line is a JSON object; connection lines carry connection, peer and exact byte counts", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const proxy = yield* spawnCli([
        "proxy",
        ...listenAnywhere,
        "--dest",
        `${loopback}:${d.port}`,
        "--log-format",
        "json"
      ])
      const port = yield* listeningPort(proxy)
      const s = yield* source(port)
      const peer = `${loopback}:${s.socket.localPort}`
      const data = pattern(3000, 5)
      yield* s.write(data)
      yield* s.end
      yield* d.until(() => d.connections[0]?.ended === true)
      yield* proxy.waitForLine(/connection closed/)
      const lines = nonEmptyLines(proxy.stdout()).map((line) => JSON.parse(line) as JsonLine)
      for (const line of lines) {
        expect(typeof line.message).toBe("string")
        expect(typeof line.logLevel).toBe("string")
        expect(typeof line.timestamp).toBe("string")
      }
      const opened = lines.find((line) => line.message === "connection opened")
      expect(opened?.annotations).toEqual({ connection: 1, peer, route: "default" })
      const destinationLine = lines.find((line) => line.message.startsWith(`destination ${loopback}:${d.port} is up`))
      expect(destinationLine?.annotations).toMatchObject({ connection: 1, peer, destination: `${loopback}:${d.port}` })
      const closed = lines.find((line) => line.message.startsWith("connection closed"))
      expect(closed?.annotations).toMatchObject({
        connection: 1,
        peer,
        bytesIn: data.length,
        links: [{
          destination: `${loopback}:${d.port}`,
          from: 0,
          received: data.length,
          delivered: data.length,
          dropped: 0,
          buffered: 0
        }]
      })
      expect(Number.isInteger(closed?.annotations["durationMs"])).toBe(true)
    }))
})

/**
 * A proxy process whose only destination does not read (it holds the drain open
 * until the test releases it), and a source that sent 8 MiB: returns once the
 * proxy holds bytes it could not hand to the destination.
 */
const proxyHoldingBytes = (drainTimeout: string, seed: number) =>
  Effect.gen(function*() {
    const d = yield* destination({ stalled: true })
    const name = `${loopback}:${d.port}`
    const proxy = yield* spawnCli([
      "proxy",
      ...listenAnywhere,
      ...metricsAnywhere,
      "--dest",
      name,
      "--buffer",
      "16MiB",
      "--write-timeout",
      "60s",
      "--drain-timeout",
      drainTimeout
    ])
    const http = yield* metricsPort(proxy)
    const port = yield* listeningPort(proxy)
    expect(yield* httpGet(http, "/healthz")).toMatchObject({ status: 200, body: "ok\n" })
    const s = yield* source(port)
    const data = pattern(8 * 1024 * 1024, seed)
    yield* s.write(data)
    const buffered = `socket_proxy_bytes_buffered{destination="${name}",route="default"}`
    yield* scrapeUntil(
      http,
      (m) => m.get("socket_proxy_bytes_received_total") === data.length && (m.get(buffered) ?? 0) > 0
    )
    return { d, proxy, http, s, data, buffered }
  })

describe("drain on SIGTERM", () => {
  it.scopedLive("/healthz is 200 while serving, 503 while draining; held bytes still flush, then exit 0", () =>
    Effect.gen(function*() {
      const { buffered, d, data, http, proxy } = yield* proxyHoldingBytes("60s", 9)
      yield* proxy.kill("SIGTERM")
      // Until the proxy handles the signal it still answers 200; then 503 until the drain ends.
      let health = yield* httpGetOrGone(http, "/healthz")
      while (health?.status === 200) health = yield* httpGetOrGone(http, "/healthz")
      expect(health).toMatchObject({ status: 503, body: "draining\n" })
      expect(sample(yield* scrape(http), buffered)).toBeGreaterThan(0)
      yield* d.release
      const exit = yield* proxy.waitForExit(Duration.seconds(20))
      expect(exit.code, exit.stderr).toBe(0)
      yield* d.until(() => d.connections[0]?.ended === true)
      expect(d.connections[0]!.data().equals(data)).toBe(true)
    }))
})

describe("--drain-timeout", () => {
  it.scopedLive("a destination that never takes the rest holds the exit back for the drain timeout, no longer; exit 0", () =>
    Effect.gen(function*() {
      const { d, data, proxy, s } = yield* proxyHoldingBytes("1500ms", 10)
      const signalledAt = Date.now()
      yield* proxy.kill("SIGTERM")
      const exit = yield* proxy.waitForExit(Duration.seconds(20))
      const took = Date.now() - signalledAt
      expect(exit.code, exit.stderr).toBe(0)
      expect(exit.stdout).toMatch(/shutdown: closing 1 connection\(s\) that did not finish flushing/)
      // It waited for the drain timeout, and then did not wait for --write-timeout (60 s) or the 5 s default.
      expect(took).toBeGreaterThanOrEqual(1400)
      expect(took).toBeLessThan(4500)
      // The source was closed, the destination's connection too (it sees that once it reads again).
      yield* s.until(() => s.isClosed())
      yield* d.release
      yield* d.until(() => d.connections[0]?.closed === true)
      expect(d.connections[0]!.bytes).toBeLessThan(data.length)
    }))
})

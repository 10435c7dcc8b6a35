/**
 * --max-connections and --allow: refused sources are closed at accept and
 * counted; the sessions already open keep flowing.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Logger, TestClock } from "effect"
import { parseCidrList } from "../src/Proxy/Settings/Cidr.js"
import type { Cidr } from "../src/Proxy/Settings/Cidr.js"
import type { TestDestination, TestSource } from "./support/Peers.js"
import { destination, loopback, source } from "./support/Peers.js"
import { sample, scrape, scrapeUntil } from "./support/Scrape.js"
import { startProxy, statsUntil } from "./support/TestProxy.js"

const cidrs = (text: string): ReadonlyArray<Cidr> => {
  const parsed = parseCidrList(text)
  if (parsed._tag === "Left") throw new Error(parsed.left)
  return parsed.right
}

const metricsOnLoopback = { host: loopback, port: 0 }

/** Writes `text` and waits until the destination's connection number `index` has received it. */
const flows = (s: TestSource, d: TestDestination, index: number, text: string) =>
  Effect.gen(function*() {
    const before = d.connections[index]?.bytes ?? 0
    yield* s.write(text)
    yield* d.until(() => (d.connections[index]?.bytes ?? 0) === before + text.length)
  })

describe("--max-connections", () => {
  it.scopedLive("closes connections past N at once and counts them; the others keep flowing; a freed slot is reused", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const proxy = yield* startProxy([d.endpoint], { maxConnections: 2, metrics: metricsOnLoopback })
      // Effect's metric registry is per process: other proxies of this file may have counted before.
      const before = (yield* scrape(proxy.metricsAddress!.port)).get(
        `socket_proxy_connections_refused_total{reason="max_connections"}`
      ) ?? 0
      const first = yield* source(proxy.address.port)
      yield* flows(first, d, 0, "first")
      const second = yield* source(proxy.address.port)
      yield* flows(second, d, 1, "second")

      const third = yield* source(proxy.address.port)
      yield* third.until(() => third.isClosed())
      expect(d.connections).toHaveLength(2)
      const refused = yield* scrapeUntil(
        proxy.metricsAddress!.port,
        (m) => m.get(`socket_proxy_connections_refused_total{reason="max_connections"}`) === before + 1
      )
      expect((yield* proxy.stats).refusedConnections).toEqual({
        max_connections: 1,
        not_allowed: 0,
        loop: 0,
        proxy_protocol: 0,
        tls: 0
      })
      expect(sample(refused, "socket_proxy_connections_open{route=\"default\"}")).toBe(2)

      // Existing sessions are untouched.
      yield* flows(first, d, 0, " more")
      yield* flows(second, d, 1, " more")
      expect(first.isClosed() || second.isClosed()).toBe(false)

      // Once one closes, a new source gets its slot.
      yield* first.end
      yield* statsUntil(proxy, (stats) => stats.openConnections === 1)
      const fourth = yield* source(proxy.address.port)
      yield* d.until(() => d.connections.length === 3)
      yield* flows(fourth, d, 2, "fourth")
      expect(d.connections.map((c) => c.data().toString())).toEqual(["first more", "second more", "fourth"])
    }))
})

describe("--allow", () => {
  /** A proxy on the dual-stack `[::]:0` listener, and what happens to one source of each family. */
  const dualStack = (allow: string) =>
    Effect.gen(function*() {
      const d = yield* destination()
      const proxy = yield* startProxy([d.endpoint], { listen: { host: "::", port: 0 }, allow: cidrs(allow) })
      return { d, proxy }
    })

  it.scopedLive("an IPv4 block admits IPv4 sources (IPv4-mapped on a dual-stack listener) and refuses ::1", () =>
    Effect.gen(function*() {
      const { d, proxy } = yield* dualStack("127.0.0.0/8")
      const v4 = yield* source(proxy.address.port, "127.0.0.1")
      yield* flows(v4, d, 0, "from IPv4")
      const v6 = yield* source(proxy.address.port, "::1")
      yield* v6.until(() => v6.isClosed())
      yield* statsUntil(proxy, (stats) => stats.refusedConnections.not_allowed === 1)
      expect((yield* proxy.stats).acceptedConnections).toBe(1)
      // The admitted source still flows after the refusal.
      yield* flows(v4, d, 0, ", still")
      expect(d.connections).toHaveLength(1)
      expect(d.connections[0]!.data().toString()).toBe("from IPv4, still")
    }))

  it.scopedLive("an IPv6 block admits ::1 and refuses IPv4 sources", () =>
    Effect.gen(function*() {
      const { d, proxy } = yield* dualStack("::1/128")
      const v6 = yield* source(proxy.address.port, "::1")
      yield* flows(v6, d, 0, "from ::1")
      const v4 = yield* source(proxy.address.port, "127.0.0.1")
      yield* v4.until(() => v4.isClosed())
      yield* statsUntil(proxy, (stats) => stats.refusedConnections.not_allowed === 1)
      yield* flows(v6, d, 0, ", still")
      expect(d.connections).toHaveLength(1)
    }))

  it.scopedLive("on an IPv4 listener, a source outside every block is refused and counted", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const proxy = yield* startProxy([d.endpoint], { allow: cidrs("10.0.0.0/8, 192.168.0.0/16") })
      const s = yield* source(proxy.address.port)
      yield* s.until(() => s.isClosed())
      const stats = yield* statsUntil(proxy, (stats) => stats.refusedConnections.not_allowed === 1)
      expect(stats.refusedConnections.max_connections).toBe(0)
      expect(stats.acceptedConnections).toBe(0)
      expect(d.connections).toHaveLength(0)
    }))
})

describe("refusal logging", () => {
  it.scoped("logs the first refusal, then at most one summary line every 30 s however many follow", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const logger = Logger.make(({ message }) => {
        lines.push(String(Array.isArray(message) ? message.join(" ") : message))
      })
      const d = yield* destination()
      const proxy = yield* startProxy([d.endpoint], { allow: cidrs("10.0.0.0/8") }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      const refusals = () => lines.filter((line) => line.startsWith("refused"))
      /** One refused source; returns once the proxy has counted (and so logged, or not) the refusal. */
      const refuse = (n: number) =>
        Effect.gen(function*() {
          const s = yield* source(proxy.address.port)
          yield* s.until(() => s.isClosed())
          yield* statsUntil(proxy, (stats) => stats.refusedConnections.not_allowed === n)
        }).pipe(Effect.scoped)
      for (let n = 1; n <= 20; n++) yield* refuse(n)
      expect(refusals()).toEqual(["refused a connection (source not in --allow)"])
      yield* TestClock.adjust(Duration.seconds(31))
      yield* refuse(21)
      expect(refusals()).toHaveLength(2)
      expect(refusals()[1]).toMatch(
        /^refused 20 connections \(source not in --allow\) in the last 31s/
      )
    }))
  it.scoped("refusals not yet summed up when the proxy stops are logged in the drain", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const logger = Logger.make(({ message }) => {
        lines.push(String(Array.isArray(message) ? message.join(" ") : message))
      })
      const refusals = () => lines.filter((line) => line.startsWith("refused"))
      const d = yield* destination()
      yield* Effect.scoped(Effect.gen(function*() {
        const proxy = yield* startProxy([d.endpoint], { allow: cidrs("10.0.0.0/8") })
        for (let n = 1; n <= 4; n++) {
          yield* Effect.scoped(Effect.gen(function*() {
            const s = yield* source(proxy.address.port)
            yield* s.until(() => s.isClosed())
            yield* statsUntil(proxy, (stats) => stats.refusedConnections.not_allowed === n)
          }))
        }
        yield* TestClock.adjust(Duration.seconds(2))
        expect(refusals()).toEqual(["refused a connection (source not in --allow)"])
      })).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      // The scope closed: the proxy has drained and stopped, and said what it had not said yet.
      expect(refusals()).toEqual([
        "refused a connection (source not in --allow)",
        "refused 3 connections (source not in --allow) in the last 2s; latest shown"
      ])
      expect(lines.indexOf(refusals()[1]!)).toBeGreaterThan(lines.findIndex((line) => line.startsWith("shutting down")))
    }))
})

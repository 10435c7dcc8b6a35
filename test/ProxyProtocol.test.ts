/**
 * The PROXY protocol through the proxy (issue 11): `--accept-proxy-protocol`
 * gates every source connection on its header (nothing forwarded, no destination
 * dialled until it is complete), whose source is the connection's peer from then
 * on; `--send-proxy-protocol` begins every destination connection with a header.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Logger, Scope } from "effect"
import type { ProxyConfig } from "../src/Proxy/Settings/Config.js"
import { parseCidrList } from "../src/Proxy/Settings/Cidr.js"
import type { TestDestination, TestSource } from "./support/Peers.js"
import { destination, source } from "./support/Peers.js"
import { startProxy, statsUntil } from "./support/TestProxy.js"

const signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])

/** A v2 header written by hand (not by the code under test): PROXY over TCP/IPv4, or LOCAL. */
const v2Header = (
  command: "PROXY" | "LOCAL",
  from = "203.0.113.7",
  fromPort = 4711,
  to = "192.0.2.1",
  toPort = 8000
) => {
  const addresses = Buffer.alloc(12)
  from.split(".").forEach((octet, i) => addresses.writeUInt8(Number(octet), i))
  to.split(".").forEach((octet, i) => addresses.writeUInt8(Number(octet), 4 + i))
  addresses.writeUInt16BE(fromPort, 8)
  addresses.writeUInt16BE(toPort, 10)
  const fixed = Buffer.alloc(4)
  fixed.writeUInt8(command === "PROXY" ? 0x21 : 0x20, 0)
  fixed.writeUInt8(0x11, 1)
  fixed.writeUInt16BE(addresses.length, 2)
  return Buffer.concat([signature, fixed, addresses])
}

/** Writes `bytes` one at a time, each its own segment as far as the socket allows. */
const byteByByte = (s: TestSource, bytes: Buffer) =>
  Effect.forEach([...bytes], (byte) => s.write(Buffer.of(byte)), { discard: true })

const behindBalancer = (overrides: Partial<ProxyConfig> = {}) =>
  Effect.gen(function*() {
    const d = yield* destination()
    const proxy = yield* startProxy([d.endpoint], { acceptProxyProtocol: true, ...overrides })
    return { d, proxy }
  })

const received = (d: TestDestination, index: number) => d.connections[index]?.data().toString("latin1") ?? ""

describe("--accept-proxy-protocol", () => {
  it.scopedLive("a v1 header: the bytes after it are forwarded, and its source is the connection's peer", () =>
    Effect.gen(function*() {
      const { d, proxy } = yield* behindBalancer()
      const s = yield* source(proxy.address.port)
      yield* s.write("PROXY TCP4 203.0.113.7 192.0.2.1 4711 8000\r\nhello")
      yield* d.until(() => received(d, 0) === "hello")
      const stats = yield* statsUntil(proxy, (stats) => stats.connections.length === 1)
      expect(stats.connections[0]!.peer).toBe("203.0.113.7:4711")
      expect(stats.connections[0]!.bytesReceived).toBe(5)
    }))

  it.scopedLive("a v2 header sent byte by byte, then data: nothing is dialled before the header is whole", () =>
    Effect.gen(function*() {
      const { d, proxy } = yield* behindBalancer()
      const s = yield* source(proxy.address.port)
      const header = v2Header("PROXY")
      yield* byteByByte(s, header.subarray(0, header.length - 1))
      // One byte short: the proxy holds the connection and has dialled nothing.
      expect(d.connections).toHaveLength(0)
      expect((yield* proxy.stats).acceptedConnections).toBe(0)
      yield* s.write(Buffer.concat([header.subarray(header.length - 1), Buffer.from("data")]))
      yield* d.until(() => received(d, 0) === "data")
      expect((yield* proxy.stats).connections[0]!.peer).toBe("203.0.113.7:4711")
    }))

  it.scopedLive("garbage instead of a header: closed at once, counted, logged, no destination connection", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const logger = Logger.make(({ message }) => {
        lines.push(String(Array.isArray(message) ? message.join(" ") : message))
      })
      const { d, proxy } = yield* behindBalancer().pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      const s = yield* source(proxy.address.port)
      yield* s.write("GET / HTTP/1.0\r\n\r\n")
      yield* s.until(() => s.isClosed())
      const stats = yield* statsUntil(proxy, (stats) => stats.refusedConnections.proxy_protocol === 1)
      expect(stats.acceptedConnections).toBe(0)
      expect(d.connections).toHaveLength(0)
      expect(lines.filter((line) => line.startsWith("refused"))).toEqual([
        expect.stringMatching(/^refused a connection \(no valid PROXY protocol header.*\): /)
      ])
    }))

  it.live("a header not complete within 5 s: closed and counted", () =>
    Effect.scoped(Effect.gen(function*() {
      const { d, proxy } = yield* behindBalancer()
      const s = yield* source(proxy.address.port)
      const start = Date.now()
      yield* s.write("PROXY TCP4 203.0.113.7 ")
      yield* s.until(() => s.isClosed(), "8 seconds")
      expect(Date.now() - start).toBeGreaterThanOrEqual(4900)
      yield* statsUntil(proxy, (stats) => stats.refusedConnections.proxy_protocol === 1)
      expect(d.connections).toHaveLength(0)
    })))

  it.scoped("shutdown closes a connection still without its header at once, not as a refusal", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const outer = yield* Effect.scope
      const lines: Array<string> = []
      const logger = Logger.make(({ message }) => {
        lines.push(String(Array.isArray(message) ? message.join(" ") : message))
      })
      // Under the TestClock neither the 5 s header timeout nor the drain timeout can pass:
      // the shutdown ends only if the drain closes the waiting connection itself.
      const waiting = yield* Effect.scoped(Effect.gen(function*() {
        const proxy = yield* startProxy([d.endpoint], { acceptProxyProtocol: true, drainTimeout: Duration.minutes(1) })
        const waiting = yield* source(proxy.address.port).pipe(Scope.extend(outer))
        yield* waiting.write("PROXY TCP4 203.0.113.7 ")
        // Accepted after it: once this one's bytes are through, the proxy is reading the first one's header.
        const later = yield* source(proxy.address.port)
        yield* later.write("PROXY TCP4 10.1.2.3 192.0.2.1 4711 8000\r\nthrough")
        yield* d.until(() => received(d, 0) === "through")
        return waiting
      })).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      yield* waiting.until(() => waiting.isClosed())
      expect(lines.filter((line) => line.startsWith("refused"))).toEqual([])
      expect(d.connections).toHaveLength(1)
    }))

  it.scopedLive("a v2 LOCAL connection (a health check) is closed quietly: no refusal, no destination connection", () =>
    Effect.gen(function*() {
      const { d, proxy } = yield* behindBalancer()
      const s = yield* source(proxy.address.port)
      yield* s.write(v2Header("LOCAL"))
      yield* s.until(() => s.isClosed())
      const stats = yield* proxy.stats
      expect(stats.refusedConnections.proxy_protocol).toBe(0)
      expect(stats.acceptedConnections).toBe(0)
      expect(d.connections).toHaveLength(0)
    }))

  it.scopedLive("UNKNOWN keeps the balancer's address", () =>
    Effect.gen(function*() {
      const { d, proxy } = yield* behindBalancer()
      const s = yield* source(proxy.address.port)
      yield* s.write("PROXY UNKNOWN\r\nx")
      yield* d.until(() => received(d, 0) === "x")
      expect((yield* proxy.stats).connections[0]!.peer).toBe(`127.0.0.1:${s.socket.localPort}`)
    }))

  it.scopedLive("--allow is asked of the header's source, not of the balancer", () =>
    Effect.gen(function*() {
      const allow = parseCidrList("10.0.0.0/8")
      if (allow._tag === "Left") throw new Error(allow.left)
      const { d, proxy } = yield* behindBalancer({ allow: allow.right })
      const outsider = yield* source(proxy.address.port)
      yield* outsider.write("PROXY TCP4 203.0.113.7 192.0.2.1 4711 8000\r\nno")
      yield* outsider.until(() => outsider.isClosed())
      yield* statsUntil(proxy, (stats) => stats.refusedConnections.not_allowed === 1)
      const insider = yield* source(proxy.address.port)
      yield* insider.write("PROXY TCP4 10.1.2.3 192.0.2.1 4711 8000\r\nyes")
      yield* d.until(() => received(d, 0) === "yes")
      expect(d.connections).toHaveLength(1)
    }))
})

describe("--send-proxy-protocol", () => {
  it.scopedLive("v1: each destination connection begins with a header naming the source; a reconnection too", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const proxy = yield* startProxy([d.endpoint], { sendProxyProtocol: "v1" })
      const s = yield* source(proxy.address.port)
      const header = `PROXY TCP4 127.0.0.1 127.0.0.1 ${s.socket.localPort} ${proxy.address.port}\r\n`
      yield* s.write("first")
      yield* d.until(() => received(d, 0) === `${header}first`)
      // The destination drops the connection: the redialled one starts with the header again.
      d.connections[0]!.socket.destroy()
      yield* d.until(() => d.connections.length === 2)
      yield* s.write("second")
      yield* d.until(() => received(d, 1) === `${header}second`)
      // The header is not the source's: not counted as delivered.
      const stats = yield* statsUntil(proxy, (stats) => stats.connections[0]!.destinations[0]!.delivered === 11)
      expect(stats.connections[0]!.destinations[0]!.dropped).toBe(0)
    }))

  it.scopedLive("v2 behind a balancer: the header sent names the source the received one named", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const proxy = yield* startProxy([d.endpoint], { acceptProxyProtocol: true, sendProxyProtocol: "v2" })
      const s = yield* source(proxy.address.port)
      yield* s.write(Buffer.concat([v2Header("PROXY", "198.51.100.9", 5000, "192.0.2.1", 8000), Buffer.from("v2")]))
      const expected = Buffer.concat([v2Header("PROXY", "198.51.100.9", 5000, "192.0.2.1", 8000), Buffer.from("v2")])
      yield* d.until(() => d.connections[0]?.data().equals(expected) === true)
    }))

  it.scopedLive("on an IPv6 listener, a TCP6 header names both ends", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const proxy = yield* startProxy([d.endpoint], { listen: { host: "::1", port: 0 }, sendProxyProtocol: "v1" })
      const s = yield* source(proxy.address.port, "::1")
      yield* s.write("six")
      const header = `PROXY TCP6 ::1 ::1 ${s.socket.localPort} ${proxy.address.port}\r\n`
      yield* d.until(() => received(d, 0) === `${header}six`)
    }))
})

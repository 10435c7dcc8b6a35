import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { destination, freePort, loopback, pattern, refusesConnections, source } from "./support/Peers.js"
import { startProxy, statsUntil } from "./support/TestProxy.js"

/** "Within 2 s of coming back" from the contract: at most ~1 s of backoff plus the connect. */
const backWithin = Duration.seconds(2)

describe("a destination that is down", () => {
  it.scopedLive("at start is redialled while the others keep receiving, and gets data within 2 s of coming up", () =>
    Effect.gen(function*() {
      const later = yield* freePort()
      const up = yield* destination()
      const proxy = yield* startProxy([up.endpoint, { host: loopback, port: later }])
      const s = yield* source(proxy.address.port)
      yield* s.write("one ")
      yield* up.until(() => up.totalBytes() === 4)
      yield* statsUntil(proxy, (stats) => stats.destinations[1]!.state === "down")
      // Let it fail a few more redials, so the backoff has grown to its cap.
      yield* Effect.sleep(Duration.millis(1500))
      yield* s.write("two ")
      yield* up.until(() => up.totalBytes() === 8)
      const down = yield* destination({ port: later })
      yield* down.until(() => down.totalBytes() === 8, backWithin)
      expect(down.connections[0]!.data().toString()).toBe("one two ")
      expect(s.isClosed()).toBe(false)
    }))

  it.scopedLive("after dropping the connection (still listening) is redialled at once, nothing lost", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const proxy = yield* startProxy([d.endpoint])
      const s = yield* source(proxy.address.port)
      yield* s.write("before")
      yield* d.until(() => d.totalBytes() === 6)
      d.connections[0]!.socket.end()
      yield* statsUntil(proxy, (stats) => stats.connections[0]!.destinations[0]!.connected === false)
      yield* s.write("after")
      // The first redial comes after ~50 ms; 500 ms leaves room for a busy machine.
      yield* d.until(() => d.connections.length === 2 && d.connections[1]!.bytes === 5, Duration.millis(500))
      expect(d.connections[1]!.data().toString()).toBe("after")
      expect(s.isClosed()).toBe(false)
    }))

  it.scopedLive("that dies and comes back on the same port gets data again within 2 s", () =>
    Effect.gen(function*() {
      const first = yield* destination()
      const other = yield* destination()
      const proxy = yield* startProxy([first.endpoint, other.endpoint])
      const s = yield* source(proxy.address.port)
      yield* s.write("a")
      yield* first.until(() => first.totalBytes() === 1)
      yield* first.kill
      yield* statsUntil(proxy, (stats) => stats.destinations[0]!.state === "down")
      yield* s.write("b")
      yield* other.until(() => other.totalBytes() === 2)
      const again = yield* destination({ port: first.port })
      yield* again.until(() => again.totalBytes() === 1, backWithin)
      expect(again.connections[0]!.data().toString()).toBe("b")
      expect(other.connections[0]!.data().toString()).toBe("ab")
    }))

  it.scopedLive("holds at most --buffer bytes, the newest, and counts the rest as dropped", () =>
    Effect.gen(function*() {
      const buffer = 64 * 1024
      const later = yield* freePort()
      const up = yield* destination()
      const proxy = yield* startProxy([up.endpoint, { host: loopback, port: later }], { bufferBytes: buffer })
      const s = yield* source(proxy.address.port)
      const sent = pattern(1024 * 1024, 11)
      yield* s.write(sent)
      yield* up.until(() => up.totalBytes() === sent.length)
      const held = yield* statsUntil(proxy, (stats) => stats.bytesReceived === sent.length)
      const link = held.connections[0]!.destinations[1]!
      expect(link.buffered).toBe(buffer)
      expect(link.dropped).toBe(sent.length - buffer)
      const down = yield* destination({ port: later })
      yield* down.until(() => down.totalBytes() === buffer, backWithin)
      // Exactly the newest bytes, contiguous.
      expect(down.connections[0]!.data().equals(sent.subarray(sent.length - buffer))).toBe(true)
      const after = yield* statsUntil(proxy, (stats) => stats.connections[0]!.destinations[1]!.buffered === 0)
      const balanced = after.connections[0]!.destinations[1]!
      expect(balanced.delivered + balanced.dropped).toBe(sent.length)
    }))

  it.scopedLive("with a host name that does not resolve is just down: the others receive", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const proxy = yield* startProxy([{ host: "nonexistent.invalid", port: 9 }, d.endpoint])
      const s = yield* source(proxy.address.port)
      yield* s.write("still flowing")
      yield* d.until(() => d.totalBytes() === 13)
      const stats = yield* statsUntil(proxy, (stats) => stats.destinations[0]!.state === "down")
      expect(stats.destinations[1]!.state).toBe("up")
      expect(s.isClosed()).toBe(false)
    }))
})

describe("addresses", () => {
  for (const host of ["127.0.0.1", "::1"]) {
    it.scopedLive(`reaches a destination listening on ${host} only`, () =>
      Effect.gen(function*() {
        const d = yield* destination({ host })
        const proxy = yield* startProxy([{ host: "localhost", port: d.port }])
        const s = yield* source(proxy.address.port)
        yield* s.write("hello")
        yield* d.until(() => d.totalBytes() === 5)
      }))
  }

  it.scopedLive("--listen PORT accepts sources on every interface, IPv4 and IPv6", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const proxy = yield* startProxy([d.endpoint], { listen: { port: 0 } })
      const v4 = yield* source(proxy.address.port, "127.0.0.1")
      const v6 = yield* source(proxy.address.port, "::1")
      yield* v4.write("four")
      yield* v6.write("six")
      yield* d.until(() => d.connections.length === 2 && d.totalBytes() === 7)
    }))

  it.scopedLive("--listen 127.0.0.1:PORT binds loopback IPv4 only", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const proxy = yield* startProxy([d.endpoint], { listen: { host: "127.0.0.1", port: 0 } })
      const refused = yield* refusesConnections(proxy.address.port, "::1")
      expect(refused).toBe(true)
    }))

  it.scopedLive("listens on IPv6 loopback and forwards to a bracketed IPv6 destination", () =>
    Effect.gen(function*() {
      const d = yield* destination({ host: "::1" })
      const proxy = yield* startProxy([{ host: "::1", port: d.port }], { listen: { host: "::1", port: 0 } })
      expect(proxy.address.host).toBe("::1")
      const s = yield* source(proxy.address.port, "::1")
      yield* s.write("over v6")
      yield* d.until(() => d.totalBytes() === 7)
    }))
})

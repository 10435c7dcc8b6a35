import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { destination, freePort, loopback, pattern, source } from "./support/Peers.js"
import { helloThroughProxy, startProxy, statsUntil } from "./support/TestProxy.js"

describe("forwarding", () => {
  it.scopedLive("gives each source its own connection to every destination", () =>
    Effect.gen(function*() {
      const d1 = yield* destination()
      const d2 = yield* destination()
      const proxy = yield* startProxy([d1.endpoint, d2.endpoint])
      const s1 = yield* source(proxy.address.port)
      const s2 = yield* source(proxy.address.port)
      yield* s1.write("from source one")
      yield* s2.write("from source two")
      for (const d of [d1, d2]) {
        yield* d.until(() => d.connections.length === 2 && d.totalBytes() === 30)
        const received = d.connections.map((c) => c.data().toString()).sort()
        expect(received).toEqual(["from source one", "from source two"])
      }
      const stats = yield* proxy.stats
      expect(stats.openConnections).toBe(2)
    }))

  it.scopedLive("delivers every byte to every destination in order", () =>
    Effect.gen(function*() {
      const d1 = yield* destination()
      const d2 = yield* destination()
      const proxy = yield* startProxy([d1.endpoint, d2.endpoint])
      const s = yield* source(proxy.address.port)
      const data = pattern(4 * 1024 * 1024)
      // Many writes of odd sizes, so chunk boundaries never line up with anything.
      for (let offset = 0; offset < data.length; offset += 65_521) {
        yield* s.write(data.subarray(offset, offset + 65_521))
      }
      for (const d of [d1, d2]) {
        yield* d.until(() => d.totalBytes() >= data.length)
        expect(d.connections).toHaveLength(1)
        expect(d.connections[0]!.data().equals(data)).toBe(true)
      }
    }))

  it.scopedLive("holds bytes sent before a destination is connected and delivers them first", () =>
    Effect.gen(function*() {
      const later = yield* freePort()
      const up = yield* destination()
      const proxy = yield* startProxy([up.endpoint, { host: loopback, port: later }])
      const s = yield* source(proxy.address.port)
      yield* s.write("first bytes, ")
      yield* up.until(() => up.totalBytes() === 13)
      // The second destination only starts listening now.
      const down = yield* destination({ port: later })
      yield* s.write("then the rest")
      yield* down.until(() => down.totalBytes() === 26)
      expect(down.connections[0]!.data().toString()).toBe("first bytes, then the rest")
    }))

  it.scopedLive("on source EOF flushes everything to every destination, then closes them", () =>
    Effect.gen(function*() {
      const d1 = yield* destination()
      // Slow to read: most of the file is still inside the proxy when the EOF arrives.
      const d2 = yield* destination({ stalled: true })
      const file = pattern(20 * 1024 * 1024, 7)
      const proxy = yield* startProxy([d1.endpoint, d2.endpoint], {
        bufferBytes: 2 * file.length,
        writeTimeout: Duration.seconds(30)
      })
      const s = yield* source(proxy.address.port)
      yield* s.write(file)
      yield* s.end
      yield* d1.until(() => d1.connections[0]?.ended === true, Duration.seconds(20))
      yield* statsUntil(proxy, (stats) => stats.bytesReceived === file.length)
      yield* d2.release
      yield* d2.until(() => d2.connections[0]?.ended === true, Duration.seconds(20))
      for (const d of [d1, d2]) {
        expect(d.connections[0]!.bytes).toBe(file.length)
        expect(d.connections[0]!.data().equals(file)).toBe(true)
      }
      const stats = yield* statsUntil(proxy, (stats) => stats.openConnections === 0)
      expect(stats.destinations.map((d) => [d.delivered, d.dropped])).toEqual([[file.length, 0], [file.length, 0]])
    }))

  it.scopedLive("sends at once what a source sends just before closing", () =>
    Effect.gen(function*() {
      const d1 = yield* destination()
      const d2 = yield* destination()
      const proxy = yield* startProxy([d1.endpoint, d2.endpoint])
      // Connect, send and close in one go: the old app lost this most of the time.
      for (let i = 0; i < 5; i++) {
        const s = yield* source(proxy.address.port)
        yield* s.write(`message ${i}`)
        yield* s.end
      }
      for (const d of [d1, d2]) {
        yield* d.until(() => d.connections.length === 5 && d.connections.every((c) => c.ended))
        expect(d.connections.map((c) => c.data().toString()).sort()).toEqual(
          [0, 1, 2, 3, 4].map((i) => `message ${i}`)
        )
      }
    }))

  it.scopedLive("closes the destination connections within 1 s when the source closes", () =>
    Effect.gen(function*() {
      const { d, s } = yield* helloThroughProxy()
      yield* s.end
      yield* d.until(() => d.connections[0]!.ended, Duration.seconds(1))
    }))

  it.scopedLive("closes the destination connections within 1 s when the source fails", () =>
    Effect.gen(function*() {
      const d1 = yield* destination()
      const d2 = yield* destination()
      const proxy = yield* startProxy([d1.endpoint, d2.endpoint])
      const s = yield* source(proxy.address.port)
      yield* s.write("hello")
      yield* d1.until(() => d1.totalBytes() === 5)
      yield* d2.until(() => d2.totalBytes() === 5)
      s.socket.resetAndDestroy()
      for (const d of [d1, d2]) {
        yield* d.until(() => d.connections[0]!.closed, Duration.seconds(1))
        expect(d.connections[0]!.data().toString()).toBe("hello")
      }
      yield* statsUntil(proxy, (stats) => stats.openConnections === 0)
    }))

  it.scopedLive("when the source fails, gives a stalled destination at most --write-timeout to take the rest", () =>
    Effect.gen(function*() {
      const healthy = yield* destination()
      const stalled = yield* destination({ stalled: true })
      const writeTimeout = Duration.millis(500)
      const proxy = yield* startProxy([healthy.endpoint, stalled.endpoint], { writeTimeout })
      const s = yield* source(proxy.address.port)
      const data = pattern(8 * 1024 * 1024, 21)
      yield* s.write(data)
      yield* healthy.until(() => healthy.totalBytes() === data.length)
      s.socket.resetAndDestroy()
      yield* healthy.until(() => healthy.connections[0]!.closed, Duration.seconds(1))
      // The stalled one is cut once its write has been stuck for --write-timeout.
      yield* statsUntil(
        proxy,
        (stats) => stats.openConnections === 0,
        Duration.millis(500).pipe(Duration.sum(Duration.seconds(1)))
      )
      yield* stalled.release
      yield* stalled.until(() => stalled.connections[0]!.closed)
    }))

  it.scopedLive("reads and discards what destinations send back", () =>
    Effect.gen(function*() {
      // Far more than socket buffers hold: unless the proxy reads it, the writes below never complete.
      const reply = pattern(32 * 1024 * 1024, 3)
      const d = yield* destination({ reply })
      const proxy = yield* startProxy([d.endpoint], { bufferBytes: 64 * 1024 })
      const s = yield* source(proxy.address.port)
      yield* s.write("hello")
      yield* d.until(() => d.totalBytes() === 5)
      yield* Effect.async<void>((resume) => {
        d.connections[0]!.socket.write(Buffer.alloc(0), () => resume(Effect.void))
      }).pipe(Effect.timeout(Duration.seconds(20)))
      expect(d.connections[0]!.socket.writableLength).toBe(0)
      yield* s.write(" again")
      yield* d.until(() => d.totalBytes() === 11)
    }))
})

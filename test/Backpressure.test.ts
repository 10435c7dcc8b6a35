import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber } from "effect"
import { destination, pattern, source } from "./support/Peers.js"
import { startProxy, statsUntil } from "./support/TestProxy.js"

const writeTimeout = Duration.millis(300)

describe("a destination that cannot keep up", () => {
  it.scopedLive("holds the source back for at most --write-timeout, then is cut while the others go on", () =>
    Effect.gen(function*() {
      const healthy = yield* destination()
      const stalled = yield* destination({ stalled: true })
      const proxy = yield* startProxy([healthy.endpoint, stalled.endpoint], {
        writeTimeout,
        bufferBytes: 256 * 1024
      })
      const s = yield* source(proxy.address.port)
      // Far more than the stalled destination's socket buffers and --buffer hold.
      const total = 96 * 1024 * 1024
      const data = pattern(total, 5)
      const sending = yield* Effect.fork(Effect.gen(function*() {
        for (let offset = 0; offset < total; offset += 1024 * 1024) {
          yield* s.write(data.subarray(offset, offset + 1024 * 1024))
        }
      }))
      // The healthy destination gets every byte, in order, on its one connection.
      yield* healthy.until(() => healthy.totalBytes() === total, Duration.seconds(60))
      yield* Fiber.join(sending)
      expect(healthy.connections).toHaveLength(1)
      expect(healthy.connections[0]!.data().equals(data)).toBe(true)

      const stats = yield* statsUntil(proxy, (stats) => stats.connections[0]!.destinations[1]!.dropped > 0)
      expect(stats.destinations[0]!.dropped).toBe(0)

      // The stalled destination's first connection was cut. What it had been
      // given is one contiguous run from the start: read it now.
      const first = stalled.connections[0]!
      yield* stalled.release
      yield* stalled.until(() => first.closed, Duration.seconds(20))
      const got = first.data()
      expect(got.length).toBeGreaterThan(0)
      expect(got.equals(data.subarray(0, got.length))).toBe(true)
    }))

  it.scopedLive("a destination that reads, but slower than the source sends, is cut after --write-timeout too", () =>
    Effect.gen(function*() {
      const healthy = yield* destination()
      // Reads about 1 MB/s: every write completes in time, yet its buffer never drains.
      const slow = yield* destination({ pauseAfterEachRead: Duration.millis(50) })
      const proxy = yield* startProxy([healthy.endpoint, slow.endpoint], {
        writeTimeout: Duration.seconds(1),
        bufferBytes: 64 * 1024
      })
      const s = yield* source(proxy.address.port)
      const total = 256 * 1024 * 1024
      const block = pattern(1024 * 1024, 13)
      const sending = yield* Effect.fork(Effect.gen(function*() {
        for (let offset = 0; offset < total; offset += block.length) yield* s.write(block)
      }))
      yield* healthy.until(() => healthy.totalBytes() === total, Duration.seconds(60))
      yield* Fiber.join(sending)
      const stats = yield* proxy.stats
      expect(stats.destinations[1]!.dropped).toBeGreaterThan(0)
      // Its first connection was cut by the proxy (it sees the close once it has read what came before).
      yield* slow.until(() => slow.connections[0]!.closed, Duration.seconds(30))
      expect(slow.connections[0]!.bytes).toBeLessThan(total)
    }))

  it.scopedLive("after the source ends, a destination too slow to take the rest gets --write-timeout in all", () =>
    Effect.gen(function*() {
      // Fast enough that each write completes within --write-timeout, far too slow to take 32 MiB in 1 s.
      const slow = yield* destination({ pauseAfterEachRead: Duration.millis(10) })
      const proxy = yield* startProxy([slow.endpoint], {
        writeTimeout: Duration.seconds(1),
        bufferBytes: 64 * 1024 * 1024
      })
      const s = yield* source(proxy.address.port)
      const data = pattern(32 * 1024 * 1024, 17)
      yield* s.write(data)
      yield* statsUntil(proxy, (stats) => stats.bytesReceived === data.length)
      yield* s.end
      // The rest would take several seconds; it is cut after 1 s instead (plus slack for a busy machine).
      yield* statsUntil(proxy, (stats) => stats.openConnections === 0, Duration.seconds(3))
      const totals = (yield* proxy.stats).destinations[0]!
      expect(totals.dropped).toBeGreaterThan(0)
      expect(totals.delivered + totals.dropped).toBe(data.length)
    }))

  it.scopedLive("every later connection to it also carries one contiguous run of the source", () =>
    Effect.gen(function*() {
      const healthy = yield* destination()
      const stalled = yield* destination({ stalled: true })
      const proxy = yield* startProxy([healthy.endpoint, stalled.endpoint], {
        writeTimeout,
        bufferBytes: 128 * 1024
      })
      const s = yield* source(proxy.address.port)
      const total = 64 * 1024 * 1024
      const data = pattern(total, 9)
      const sending = yield* Effect.fork(Effect.gen(function*() {
        for (let offset = 0; offset < total; offset += 256 * 1024) {
          yield* s.write(data.subarray(offset, offset + 256 * 1024))
        }
      }))
      yield* stalled.until(() => stalled.connections.length >= 2, Duration.seconds(30))
      yield* Fiber.join(sending)
      yield* healthy.until(() => healthy.totalBytes() === total, Duration.seconds(30))
      yield* s.end
      yield* stalled.release
      yield* stalled.until(() => stalled.connections.every((c) => c.closed), Duration.seconds(20))
      for (const connection of stalled.connections) {
        const got = connection.data()
        if (got.length === 0) continue
        const at = data.indexOf(got.subarray(0, Math.min(64, got.length)))
        expect(at).toBeGreaterThanOrEqual(0)
        expect(got.equals(data.subarray(at, at + got.length))).toBe(true)
      }
      const done = yield* statsUntil(proxy, (stats) => stats.openConnections === 0)
      const totals = done.destinations[1]!
      expect(totals.delivered + totals.dropped).toBe(total)
    }))
  describe("is only blamed while another connected destination could take more", () => {
    // A bulk sender outruns every destination: whoever is full at the moment holds it
    // back, but cutting a destination would lose its data and speed up no one.
    const bulk = (port: number, total: number) =>
      Effect.gen(function*() {
        const s = yield* source(port)
        const data = pattern(total, 17)
        for (let offset = 0; offset < total; offset += 256 * 1024) {
          yield* s.write(data.subarray(offset, offset + 256 * 1024))
        }
        yield* s.end
      })

    // The sinks share this process, and so its event loop, with the proxy: on a starved
    // CPU they may not read for a few hundred milliseconds, which the proxy rightly takes
    // for "took nothing". A --write-timeout of seconds keeps that out of what is tested
    // (whether saturated equals are blamed), and the bulk still outlasts it several times.
    it.scopedLive("destinations of equal speed behind a faster source are not cut", () =>
      Effect.gen(function*() {
        const sinks = [
          yield* destination({ pauseAfterEachRead: Duration.millis(10) }),
          yield* destination({ pauseAfterEachRead: Duration.millis(10) })
        ]
        const proxy = yield* startProxy(sinks.map((sink) => sink.endpoint), {
          writeTimeout: Duration.seconds(2),
          bufferBytes: 64 * 1024
        })
        const total = 48 * 1024 * 1024
        yield* bulk(proxy.address.port, total)
        for (const sink of sinks) yield* sink.until(() => sink.totalBytes() === total, Duration.seconds(50))
        const done = yield* statsUntil(proxy, (stats) => stats.openConnections === 0)
        for (const [index, sink] of sinks.entries()) {
          expect(sink.connections).toHaveLength(1)
          expect(done.destinations[index]!.dropped).toBe(0)
        }
      }), 60_000)
  })
})

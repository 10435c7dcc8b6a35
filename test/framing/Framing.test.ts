/**
 * --framing (issue 13) through the proxy, on real sockets, for each framing: a
 * destination restarted, one stalled and cut, one added (and one removed) by a
 * reload while a source streams numbered messages of random sizes, cut into
 * writes at arbitrary points. Every connection a destination gets holds only
 * whole messages, each one the source sent, in order (a connection the proxy
 * reset may end inside one); the counters balance; a message over --max-message
 * closes the source.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Logger } from "effect"
import { makeProxyConfig } from "../../src/Proxy/Settings/Config.js"
import type { MessageFraming } from "../../src/Proxy/Framing/Framing.js"
import * as Proxy from "../../src/Proxy/Proxy.js"
import type { ProxyStats } from "../../src/Proxy/Observability/Stats.js"
import type { ReceivedConnection, TestSource } from "../support/Peers.js"
import { destination, freePort, loopback, refusesConnections, source } from "../support/Peers.js"
import { startProxy, statsUntil } from "../support/TestProxy.js"
import { encode, splitMessages } from "./Messages.js"

const framings: ReadonlyArray<MessageFraming> = ["lines", "u16be", "u32be"]

/** A deterministic stream of random sizes: `count` numbered messages. */
const messagesOf = (framing: MessageFraming, count: number, seed: number, maxSize = 1500) => {
  let state = seed >>> 0
  const next = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0)
  return Array.from({ length: count }, (_, n) => encode(framing, n, 8 + (next() % maxSize)))
}

/** Writes `bytes` in writes cut at arbitrary points (never on purpose at a message boundary). */
const writeInPieces = (s: TestSource, bytes: Buffer, seed: number) =>
  Effect.gen(function*() {
    let state = seed >>> 0
    for (let at = 0; at < bytes.length;) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0
      const size = 1 + (state % 20_000)
      yield* s.write(bytes.subarray(at, at + size))
      at += size
    }
  })

/**
 * Checks one destination connection: only whole messages from its first byte,
 * each one of `sent`, in order after `after` (the index of the last message seen
 * before). A connection that was not ended cleanly (FIN) may end inside one, and
 * so may one the proxy cut for being too slow (`cut`): it is reset, but a
 * receiver whose buffer is full sees that as an end. Returns the index of its last message.
 */
const checkConnection = (
  framing: MessageFraming,
  sent: ReadonlyArray<Buffer>,
  connection: ReceivedConnection,
  after: number,
  what: string,
  cut = false
): number => {
  const { messages, rest } = splitMessages(framing, connection.data())
  let last = after
  for (const message of messages) {
    const body = framing === "lines" ? message.subarray(0, -1) : message.subarray(framing === "u16be" ? 2 : 4)
    const label = /^#(\d+):/.exec(body.subarray(0, 12).toString("latin1"))
    expect(label, `${what}: a message that does not start as one the source sent`).not.toBeNull()
    const n = Number(label![1])
    expect(n, `${what}: message ${n} after ${last}`).toBeGreaterThan(last)
    expect(message.equals(sent[n]!), `${what}: message ${n} altered`).toBe(true)
    last = n
  }
  if (connection.ended && !cut) expect(rest, `${what}: a clean end inside a message`).toBe(0)
  return last
}

/** Every connection of a destination, in order; returns how many messages they held. */
const checkConnections = (
  framing: MessageFraming,
  sent: ReadonlyArray<Buffer>,
  connections: ReadonlyArray<ReceivedConnection>,
  what: string,
  cut: (index: number) => boolean = () => false
): number => {
  let last = -1
  let whole = 0
  connections.forEach((connection, i) => {
    last = checkConnection(framing, sent, connection, last, `${what} connection ${i + 1}`, cut(i))
    whole += splitMessages(framing, connection.data()).messages.length
  })
  return whole
}

/** Bytes and messages received = delivered + dropped, for every destination. */
const expectBalanced = (stats: ProxyStats, bytes: number, messages: number) => {
  expect(stats.bytesReceived).toBe(bytes)
  expect(stats.messagesReceived).toBe(messages)
  for (const d of stats.destinations) {
    expect(d.delivered + d.dropped, `${d.destination} bytes`).toBe(bytes)
    expect(d.messagesDelivered + d.messagesDropped, `${d.destination} messages`).toBe(messages)
  }
}

for (const framing of framings) {
  describe(`--framing ${framing}`, () => {
    it.scopedLive("a destination restarted mid-stream gets whole messages on each connection; counters balance", () =>
      Effect.gen(function*() {
        const port = yield* freePort()
        const first = yield* destination({ port })
        const proxy = yield* startProxy([first.endpoint], { framing, bufferBytes: 64 * 1024 })
        const sent = messagesOf(framing, 1500, 7)
        const stream = Buffer.concat(sent)
        const s = yield* source(proxy.address.port)
        const third = Math.floor(stream.length / 3)
        yield* writeInPieces(s, stream.subarray(0, third), 1)
        yield* first.until(() => first.totalBytes() > third / 2)
        yield* first.kill
        // While it is down: more than --buffer, so whole messages are evicted too.
        yield* writeInPieces(s, stream.subarray(third, 2 * third), 2)
        const second = yield* destination({ port })
        yield* second.until(() => second.connections.length > 0)
        yield* writeInPieces(s, stream.subarray(2 * third), 3)
        yield* s.end
        yield* second.until(() => second.connections.some((c) => c.ended))
        const stats = yield* statsUntil(proxy, (stats) => stats.openConnections === 0)
        checkConnections(framing, sent, first.connections, "before the restart")
        const whole = checkConnections(framing, sent, second.connections, "after the restart")
        expect(second.connections[0]!.bytes).toBeGreaterThan(0)
        // The last connection got the stream's end: every message through to the last one.
        expect(splitMessages(framing, second.connections.at(-1)!.data()).messages.at(-1)?.equals(sent.at(-1)!)).toBe(
          true
        )
        expectBalanced(stats, stream.length, sent.length)
        expect(stats.destinations[0]!.messagesDropped).toBeGreaterThan(0)
        expect(stats.destinations[0]!.messagesDelivered).toBeGreaterThanOrEqual(whole)
      }))

    it.scopedLive("a destination stalled and cut: each of its connections holds whole messages, in order", () =>
      Effect.gen(function*() {
        const healthy = yield* destination()
        const stalled = yield* destination({ stalled: true })
        const proxy = yield* startProxy([healthy.endpoint, stalled.endpoint], {
          framing,
          writeTimeout: Duration.millis(300),
          bufferBytes: 64 * 1024
        })
        const sent = messagesOf(framing, 12_000, 11)
        const stream = Buffer.concat(sent)
        const s = yield* source(proxy.address.port)
        const half = Math.floor(stream.length / 2)
        yield* writeInPieces(s, stream.subarray(0, half), 4)
        const cut = yield* statsUntil(proxy, (stats) => stats.destinations[1]!.dropped > 0)
        expect(cut.destinations[1]!.messagesDropped).toBeGreaterThan(0)
        yield* stalled.release
        // Redialled after one to two --write-timeouts: then the rest of the stream.
        yield* stalled.until(() => stalled.connections.length > 1)
        yield* writeInPieces(s, stream.subarray(half), 5)
        yield* s.end
        yield* healthy.until(() => healthy.connections[0]?.ended === true, Duration.seconds(30))
        expect(healthy.connections[0]!.data().equals(stream)).toBe(true)
        const stats = yield* statsUntil(proxy, (stats) => stats.openConnections === 0, Duration.seconds(30))
        yield* stalled.until(() => stalled.connections.every((c) => c.closed), Duration.seconds(30))
        expect(stalled.connections.length).toBeGreaterThan(1)
        // Every connection but the last was cut; the last one got the stream's end, cleanly.
        const count = stalled.connections.length
        checkConnections(framing, sent, stalled.connections, "stalled destination", (i) => i < count - 1)
        expect(stalled.connections.at(-1)!.ended).toBe(true)
        // After its release, it got messages again, from a message start.
        expect(stalled.connections.at(-1)!.bytes).toBeGreaterThan(0)
        expectBalanced(stats, stream.length, sent.length)
      }))

    it.scopedLive("a reload mid-message: an added destination starts at the next message, a removed one ends after it", () =>
      Effect.gen(function*() {
        const [kept, removed, added] = [yield* destination(), yield* destination(), yield* destination()]
        const config = makeProxyConfig({
          listen: { host: loopback, port: 0 },
          destinations: [kept.endpoint, removed.endpoint],
          framing
        })
        const routes = yield* Proxy.makeRoutes({
          metrics: undefined,
          drainTimeout: config.drainTimeout,
          logLevel: undefined,
          logFormat: undefined,
          routes: [Proxy.routeOf(config)]
        })
        const route = routes.routes.route("default")!
        const sent = messagesOf(framing, 200, 13)
        const stream = Buffer.concat(sent)
        // Up to the middle of message 100.
        const middle = Buffer.concat(sent.slice(0, 100)).length + Math.floor(sent[100]!.length / 2)
        const s = yield* source(route.address().port)
        yield* writeInPieces(s, stream.subarray(0, middle), 6)
        yield* kept.until(() => kept.totalBytes() === middle)
        yield* removed.until(() => removed.totalBytes() === middle)
        yield* routes.routes.apply({
          metrics: undefined,
          drainTimeout: config.drainTimeout,
          logLevel: undefined,
          logFormat: undefined,
          routes: [Proxy.routeOf({ ...config, destinations: [kept.endpoint, added.endpoint] })]
        })
        yield* writeInPieces(s, stream.subarray(middle), 7)
        yield* s.end
        for (const d of [kept, added, removed]) yield* d.until(() => d.connections[0]?.ended === true)
        expect(kept.connections[0]!.data().equals(stream)).toBe(true)
        // The removed one got message 100 to its end, and nothing after; the added one every message from 101.
        expect(removed.connections[0]!.data().equals(Buffer.concat(sent.slice(0, 101)))).toBe(true)
        expect(added.connections[0]!.data().equals(Buffer.concat(sent.slice(101)))).toBe(true)
        checkConnections(framing, sent, added.connections, "added destination")
        const stats = yield* route.stats
        expect(stats.messagesReceived).toBe(sent.length)
        const byName = new Map(stats.connections.flatMap((c) => c.destinations).map((d) => [d.destination, d]))
        const link = byName.get(`${loopback}:${added.port}`)
        if (link !== undefined) {
          expect(link.messagesDelivered).toBe(sent.length - 101)
          expect(link.messagesDropped).toBe(1)
        }
      }))

    it.scopedLive("shutdown while a source is inside a message: it is closed at the next message start", () =>
      Effect.gen(function*() {
        const d = yield* destination()
        const config = makeProxyConfig({ listen: { host: loopback, port: 0 }, destinations: [d.endpoint], framing })
        const routes = yield* Proxy.makeRoutes({
          metrics: undefined,
          drainTimeout: Duration.seconds(10),
          logLevel: undefined,
          logFormat: undefined,
          routes: [Proxy.routeOf(config)]
        })
        const sent = messagesOf(framing, 20, 17)
        const stream = Buffer.concat(sent)
        const middle = Buffer.concat(sent.slice(0, 10)).length + 3
        const port = routes.routes.route("default")!.address().port
        const s = yield* source(port)
        yield* s.write(stream.subarray(0, middle))
        yield* d.until(() => d.totalBytes() === middle)
        const stopping = yield* Effect.fork(routes.routes.stopAll)
        // The listener is closed (the drain has begun, in the same step), and the source, inside message 10, is
        // still open. Then the rest of it, and more, in one write.
        while (!(yield* refusesConnections(port))) yield* Effect.yieldNow()
        expect(s.isClosed()).toBe(false)
        yield* s.write(stream.subarray(middle))
        yield* s.until(() => s.isClosed())
        yield* Fiber.join(stopping)
        yield* d.until(() => d.connections[0]?.ended === true)
        expect(d.connections[0]!.data().equals(Buffer.concat(sent.slice(0, 11)))).toBe(true)
      }))

    it.scopedLive("a message over --max-message closes the source, with one log line; counted", () =>
      Effect.gen(function*() {
        const lines: Array<string> = []
        const logger = Logger.make(({ message }) => {
          lines.push(String(Array.isArray(message) ? message.join(" ") : message))
        })
        const d = yield* destination()
        const proxy = yield* startProxy([d.endpoint], { framing, maxMessageBytes: 100 }).pipe(
          Effect.provide(Logger.replace(Logger.defaultLogger, logger))
        )
        const s = yield* source(proxy.address.port)
        const ok = encode(framing, 0, 50)
        const tooLong = encode(framing, 1, 101)
        yield* s.write(Buffer.concat([ok, tooLong]))
        yield* s.until(() => s.isClosed())
        const stats = yield* statsUntil(proxy, (stats) => stats.openConnections === 0)
        expect(stats.framingErrors).toBe(1)
        yield* d.until(() => d.connections[0]?.ended === true)
        // What came before the message is delivered, none of it.
        expect(d.connections[0]!.data().equals(ok)).toBe(true)
        const said = lines.filter((line) => line.includes("--max-message"))
        expect(said).toHaveLength(1)
        expect(said[0]).toContain("route default")
        expect(said[0]).toContain(`framing ${framing}`)
        expect(said[0]).toContain(framing === "lines" ? "101 bytes" : "of 101 bytes")
      }))
  })
}

/**
 * A destination whose packets vanish: no RST, no FIN, no ICMP. Loopback cannot
 * do this, so each destination runs on its own test host (a network namespace
 * behind a veth pair) and the black hole is an nftables drop-everything table
 * inside that host's namespace. The proxy runs in this process, in the root
 * namespace.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { formatEndpoint } from "../../src/Proxy/Settings/Endpoint.js"
import { keepAliveInitialDelay } from "../../src/Proxy/DataPath/Tcp.js"
import { missing, testHost } from "../support/Netns.js"
import { pattern, source } from "../support/Peers.js"
import { startProxy, statsUntil } from "../support/TestProxy.js"
import { hostDestination } from "./HostDestination.js"
import { captureLogs, checkRuns, steadyFeed } from "./Traffic.js"

const blackHole = { _tag: "BlackHole" } as const

const writeTimeout = Duration.seconds(2)
/**
 * While data flows, the stall starts once the kernel's send buffer towards the
 * black hole is full (well under a second at this feed's pace); then the proxy
 * waits `writeTimeout`. The margin covers the filling and a busy machine.
 */
const writeTimeoutMargin = Duration.seconds(3)

/**
 * Linux kills an idle connection after the idle time, then 10 unanswered
 * probes 1 s apart (libuv's settings): 15 s + 10 x 1 s = 25 s after the last
 * packet from the peer, which here is the ACK of the last bytes delivered.
 */
const keepAliveBound = Duration.sum(keepAliveInitialDelay, Duration.seconds(10))
const keepAliveMargin = Duration.seconds(5)

const skipped = missing("a black-holed destination (network namespaces)", "namespaces", "nftables")

const elapsedSince = (start: number) => Duration.millis(Date.now() - start)

describe.skipIf(skipped !== undefined)(skipped ?? "a black-holed destination (network namespaces)", () => {
  it.scopedLive(
    "while data flows is cut within --write-timeout and redialled; the other keeps receiving; it gets data again once reachable",
    () => {
      const logs = captureLogs()
      return Effect.gen(function*() {
        const stream = pattern(32 * 1024 * 1024, 7)
        const hole = yield* testHost
        const other = yield* testHost
        const a = yield* hostDestination(hole)
        const b = yield* hostDestination(other)
        const name = formatEndpoint(a.endpoint)
        const proxy = yield* startProxy([a.endpoint, b.endpoint], { writeTimeout })
        const s = yield* source(proxy.address.port)
        const feed = yield* steadyFeed(s, stream, 16 * 1024, Duration.millis(10))
        yield* a.until(() => a.totalBytes() >= 256 * 1024)
        yield* b.until(() => b.totalBytes() >= 256 * 1024)

        yield* hole.impair(blackHole)
        const blackHoledAt = Date.now()
        yield* statsUntil(
          proxy,
          (stats) => stats.connections[0]?.destinations[0]?.connected === false,
          Duration.seconds(30)
        )
        const detected = elapsedSince(blackHoledAt)
        const cutAt = Date.now()
        yield* Effect.logInfo(`black hole noticed after ${Duration.format(detected)} while data flowed`)
        expect(Duration.toMillis(detected)).toBeLessThanOrEqual(
          Duration.toMillis(Duration.sum(writeTimeout, writeTimeoutMargin))
        )
        yield* logs.waitFor((entry) => entry.destination === name && /cannot keep up/.test(entry.message))

        // The other destination keeps receiving: another MiB after the cut.
        const bAtCut = b.totalBytes()
        yield* b.until(() => b.totalBytes() >= bAtCut + 1024 * 1024, Duration.seconds(20))
        // And the black hole is redialled: an attempt that got no answer, after the cut.
        yield* logs.waitFor(
          (entry) =>
            entry.destination === name && entry.at >= cutAt && /redialling: cannot connect/.test(entry.message),
          Duration.seconds(20)
        )
        const connectionsBefore = a.connections.length

        yield* hole.restore
        const liftedAt = Date.now()
        yield* a.until(
          () => a.connections.length > connectionsBefore && a.connections.at(-1)!.bytes > 0,
          Duration.seconds(20)
        )
        yield* Effect.logInfo(
          `data flowed again ${Duration.format(elapsedSince(liftedAt))} after the black hole was lifted`
        )

        const sent = yield* feed.stop
        yield* s.end
        yield* b.until(() => b.connections[0]!.ended && b.connections[0]!.bytes === sent, Duration.seconds(20))
        yield* a.until(() => a.connections.at(-1)!.ended, Duration.seconds(20))
        const stats = yield* statsUntil(proxy, (stats) => stats.openConnections === 0, Duration.seconds(20))

        expect(b.connections).toHaveLength(1)
        expect((yield* b.data(0)).equals(stream.subarray(0, sent))).toBe(true)
        const received = yield* Effect.forEach(a.connections, (connection) => a.data(connection.id))
        const runs = checkRuns(stream, sent, received)
        if (typeof runs === "string") expect.fail(runs)
        expect(runs[0]!.start).toBe(0)
        expect(runs.at(-1)!.end).toBe(sent)
        // Every byte is accounted for: delivered or dropped, nothing left held.
        expect(stats.bytesReceived).toBe(sent)
        expect(stats.destinations[1]).toMatchObject({ delivered: sent, dropped: 0 })
        expect(stats.destinations[0]!.delivered + stats.destinations[0]!.dropped).toBe(sent)
      }).pipe(Effect.provide(logs.layer))
    },
    120_000
  )

  it.scopedLive(
    "while idle is noticed through TCP keep-alive within 25 s, redialled, and gets what it missed once reachable",
    () => {
      const logs = captureLogs()
      return Effect.gen(function*() {
        const hole = yield* testHost
        const other = yield* testHost
        const a = yield* hostDestination(hole)
        const b = yield* hostDestination(other)
        const name = formatEndpoint(a.endpoint)
        const proxy = yield* startProxy([a.endpoint, b.endpoint])
        const s = yield* source(proxy.address.port)
        yield* s.write("hello")
        yield* a.until(() => a.totalBytes() === 5)
        yield* b.until(() => b.totalBytes() === 5)

        yield* hole.impair(blackHole)
        const blackHoledAt = Date.now()
        yield* statsUntil(
          proxy,
          (stats) => stats.connections[0]?.destinations[0]?.connected === false,
          Duration.seconds(60)
        )
        const detected = elapsedSince(blackHoledAt)
        const lostAt = Date.now()
        yield* Effect.logInfo(`idle black hole noticed after ${Duration.format(detected)}`)
        expect(Duration.toMillis(detected)).toBeLessThanOrEqual(
          Duration.toMillis(Duration.sum(keepAliveBound, keepAliveMargin))
        )
        // Keep-alive, and nothing else, ends an idle connection with ETIMEDOUT.
        yield* logs.waitFor((entry) => entry.destination === name && /ETIMEDOUT/.test(entry.message))

        yield* s.write(" world")
        yield* b.until(() => b.totalBytes() === 11)
        yield* logs.waitFor(
          (entry) =>
            entry.destination === name && entry.at >= lostAt && /redialling: cannot connect/.test(entry.message),
          Duration.seconds(20)
        )

        yield* hole.restore
        yield* a.until(() => a.connections.length === 2 && a.connections[1]!.bytes === 6, Duration.seconds(20))
        expect((yield* a.data(a.connections[0]!.id)).toString()).toBe("hello")
        // What was sent while it was down was held for it and delivered first.
        expect((yield* a.data(a.connections[1]!.id)).toString()).toBe(" world")
        expect((yield* b.data(b.connections[0]!.id)).toString()).toBe("hello world")
        expect(s.isClosed()).toBe(false)
      }).pipe(Effect.provide(logs.layer))
    },
    120_000
  )
})

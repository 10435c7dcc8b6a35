/**
 * One destination on a slow, lossy link; the others on clean ones. The slow
 * one cannot keep up with a 4 MiB burst, so the README's rules for a slow
 * destination apply to it, and the others must not notice it: they receive
 * everything, in order, on their one connection, while the slow one is still
 * far behind.
 *
 * Two ways to impair the link: `tc netem` (delay and loss), where the kernel
 * has it, and a `tc tbf` bottleneck with nftables dropping a share of packets,
 * for kernels built without netem.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import type { Impairment, NetnsSupport } from "../support/Netns.js"
import { missing, testHost } from "../support/Netns.js"
import { pattern, source } from "../support/Peers.js"
import { startProxy, statsUntil } from "../support/TestProxy.js"
import { hostDestination } from "./HostDestination.js"
import { checkRuns } from "./Traffic.js"

const burstBytes = 4 * 1024 * 1024
const writeTimeout = Duration.seconds(1)

/**
 * At 200 ms and 5% loss, or 256 kbit/s, the slow link carries a few tens of
 * KB/s: a proxy that made the others wait for it would need minutes for the
 * burst, far beyond this deadline.
 */
const othersWithin = Duration.seconds(30)

interface Scenario {
  readonly name: string
  readonly impairment: Impairment
  readonly needs: ReadonlyArray<keyof NetnsSupport>
}

const scenarios: ReadonlyArray<Scenario> = [
  {
    name: "200 ms delay and 5% loss (tc netem)",
    impairment: { _tag: "Netem", delay: Duration.millis(200), lossPercent: 5 },
    needs: ["namespaces", "netem"]
  },
  {
    name: "a 256 kbit/s bottleneck (tc tbf) and 5% loss (nftables)",
    impairment: { _tag: "Bottleneck", rateKbit: 256, lossPercent: 5 },
    needs: ["namespaces", "tbf", "nftables"]
  }
]

for (const scenario of scenarios) {
  const skipped = missing(`a destination behind ${scenario.name}`, ...scenario.needs)
  describe.skipIf(skipped !== undefined)(skipped ?? `a destination behind ${scenario.name}`, () => {
    it.scopedLive(
      "does not slow the others down: they receive everything while it is handled per the README",
      () =>
        Effect.gen(function*() {
          const stream = pattern(burstBytes, 11)
          const slowHost = yield* testHost
          const slow = yield* hostDestination(slowHost)
          const others = [yield* hostDestination(yield* testHost), yield* hostDestination(yield* testHost)]
          const proxy = yield* startProxy([slow.endpoint, ...others.map((d) => d.endpoint)], { writeTimeout })
          const s = yield* source(proxy.address.port)
          // Every destination connected before the burst, so the slow one is there to push back.
          for (const d of [slow, ...others]) yield* d.until(() => d.connections.length === 1)
          yield* slowHost.impair(scenario.impairment)

          yield* s.write(stream)
          yield* s.end
          for (const d of others) {
            yield* d.until(() => d.connections[0]!.bytes === burstBytes && d.connections[0]!.ended, othersWithin)
          }
          const slowWhenOthersDone = slow.totalBytes()
          const stats = yield* statsUntil(proxy, (stats) => stats.openConnections === 0, Duration.seconds(30))

          for (const d of others) {
            expect(d.connections).toHaveLength(1)
            expect((yield* d.data(d.connections[0]!.id)).equals(stream)).toBe(true)
          }
          expect(slowWhenOthersDone).toBeLessThan(burstBytes)
          // The slow one: one contiguous run of the stream per connection, in order,
          // gaps only between connections, every byte delivered or counted as dropped.
          const received = yield* Effect.forEach(slow.connections, (connection) => slow.data(connection.id))
          const runs = checkRuns(stream, burstBytes, received)
          if (typeof runs === "string") expect.fail(runs)
          expect(runs[0]!.start).toBe(0)
          expect(stats.bytesReceived).toBe(burstBytes)
          for (const totals of stats.destinations.slice(1)) {
            expect(totals).toMatchObject({ delivered: burstBytes, dropped: 0 })
          }
          expect(stats.destinations[0]!.delivered + stats.destinations[0]!.dropped).toBe(burstBytes)
        }),
      90_000
    )
  })
}

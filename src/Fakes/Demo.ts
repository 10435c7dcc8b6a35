import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { makeProxyConfig } from "../Proxy/Settings/Config.js"
import { formatEndpoint } from "../Proxy/Settings/Endpoint.js"
import type { ListenError } from "../Proxy/Errors.js"
import * as Proxy from "../Proxy/Proxy.js"
import type { ProxyService } from "../Proxy/Proxy.js"
import { formatBytes } from "../Proxy/Settings/Units.js"
import * as FakeDestination from "./FakeDestination.js"
import * as FakeSource from "./FakeSource.js"

const loopback = "127.0.0.1"
const tableInterval = Duration.seconds(2)

const cell = (text: string, width: number) => text.padEnd(width)

/** The compact table the demo prints: bytes per source and destination. */
const table = (
  proxy: ProxyService,
  destinations: ReadonlyArray<FakeDestination.FakeDestination>
): Effect.Effect<string> =>
  Effect.gen(function*() {
    const stats = yield* proxy.stats
    const names = destinations.map((_, index) => `-> D${index + 1}`)
    const lines = [
      [cell("source", 22), cell("received", 12), ...names.map((name) => cell(name, 12))].join(""),
      ...stats.connections.map((connection) =>
        [
          cell(connection.peer, 22),
          cell(formatBytes(connection.bytesReceived), 12),
          ...connection.destinations.map((link) => cell(formatBytes(link.delivered), 12))
        ].join("")
      )
    ]
    const totals = yield* Effect.forEach(destinations, (destination) => destination.received)
    lines.push(
      [cell("destinations received", 34), ...totals.map((total) => cell(formatBytes(total.bytes), 12))].join("")
    )
    return lines.join("\n")
  })

/**
 * Two fake destinations, the proxy and two fake sources in one process on
 * loopback; prints who received what every 2 s until interrupted (Ctrl-C).
 */
export const run: Effect.Effect<never, ListenError> = Effect.scoped(
  Effect.gen(function*() {
    const destinations = yield* Effect.all([
      FakeDestination.make({ listen: { host: loopback, port: 0 }, quiet: true }),
      FakeDestination.make({ listen: { host: loopback, port: 0 }, quiet: true })
    ])
    const proxy = yield* Proxy.make(
      makeProxyConfig({
        listen: { host: loopback, port: 0 },
        destinations: destinations.map((destination) => destination.address)
      })
    )
    for (const _ of [1, 2]) {
      yield* Effect.forkScoped(
        FakeSource.run({ target: proxy.address, interval: Duration.seconds(1), size: 16, quiet: true })
      )
    }
    yield* Console.log(
      `demo: 2 fake sources -> proxy ${formatEndpoint(proxy.address)} -> ` +
        destinations.map((d, i) => `D${i + 1} ${formatEndpoint(d.address)}`).join(", ") +
        ". Ctrl-C to stop."
    )
    return yield* Effect.flatMap(table(proxy, destinations), (text) => Console.log(`\n${text}`)).pipe(
      Effect.delay(tableInterval),
      Effect.repeat(Schedule.forever),
      Effect.zipRight(Effect.never)
    )
  })
)

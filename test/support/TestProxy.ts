import { Duration, Effect } from "effect"
import type { Scope } from "effect"
import type { ProxyConfig } from "../../src/Proxy/Settings/Config.js"
import { makeProxyConfig } from "../../src/Proxy/Settings/Config.js"
import type { Endpoint } from "../../src/Proxy/Settings/Endpoint.js"
import type { ListenError } from "../../src/Proxy/Errors.js"
import * as Proxy from "../../src/Proxy/Proxy.js"
import type { ProxyStats } from "../../src/Proxy/Observability/Stats.js"
import { destination, loopback, source } from "./Peers.js"
import type { TestDestination, TestSource } from "./Peers.js"

/** The proxy, in process, on an ephemeral loopback port; the scope shuts it down. */
export const startProxy = (
  destinations: ReadonlyArray<Endpoint>,
  overrides: Partial<ProxyConfig> = {}
): Effect.Effect<Proxy.ProxyService, ListenError, Scope.Scope> =>
  Proxy.make(makeProxyConfig({ listen: { host: loopback, port: 0 }, destinations, ...overrides }))

/**
 * Waits until the proxy's stats satisfy `predicate`. Stats have no change
 * events, so this polls; use it only for what no socket event tells.
 */
export const statsUntil = (
  proxy: Proxy.ProxyService,
  predicate: (stats: ProxyStats) => boolean,
  within: Duration.DurationInput = Duration.seconds(10)
): Effect.Effect<ProxyStats> =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(Duration.decode(within))
    while (true) {
      const stats = yield* proxy.stats
      if (predicate(stats)) return stats
      if (Date.now() > deadline) {
        return yield* Effect.die(new Error(`stats never matched; last: ${JSON.stringify(stats)}`))
      }
      // Real time on purpose: this must work under the TestClock too.
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
    }
  })

/** One destination, the proxy, one source, and "hello" already delivered through them. */
export const helloThroughProxy = (
  overrides: Partial<ProxyConfig> = {}
): Effect.Effect<
  { readonly d: TestDestination; readonly proxy: Proxy.ProxyService; readonly s: TestSource },
  ListenError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const d = yield* destination()
    const proxy = yield* startProxy([d.endpoint], overrides)
    const s = yield* source(proxy.address.port)
    yield* s.write("hello")
    yield* d.until(() => d.totalBytes() === 5)
    return { d, proxy, s }
  })

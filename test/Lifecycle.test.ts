import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Context, Duration, Effect, Exit, Fiber, Layer, Scope, TestClock } from "effect"
import { makeProxyConfig } from "../src/Proxy/Settings/Config.js"
import * as Proxy from "../src/Proxy/Proxy.js"
import { destination, loopback, pattern, refusesConnections, source } from "./support/Peers.js"
import { startProxy, statsUntil } from "./support/TestProxy.js"

describe("idle sources", () => {
  it.scoped("a source silent for --idle-timeout is closed; data resets the clock", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const proxy = yield* startProxy([d.endpoint], { idleTimeout: Duration.minutes(30) })
      const s = yield* source(proxy.address.port)
      yield* s.write("a")
      yield* d.until(() => d.totalBytes() === 1)
      yield* TestClock.adjust(Duration.minutes(29))
      yield* s.write("b")
      yield* d.until(() => d.totalBytes() === 2)
      yield* TestClock.adjust(Duration.minutes(29))
      yield* s.write("c")
      yield* d.until(() => d.totalBytes() === 3)
      expect(s.isClosed()).toBe(false)
      yield* TestClock.adjust(Duration.minutes(30))
      yield* s.until(() => s.isClosed())
      yield* d.until(() => d.connections[0]!.ended)
      expect(d.connections[0]!.data().toString()).toBe("abc")
    }))

  it.scoped("--idle-timeout 0 never closes a silent source", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const proxy = yield* startProxy([d.endpoint], { idleTimeout: Duration.zero })
      const s = yield* source(proxy.address.port)
      yield* s.write("a")
      yield* d.until(() => d.totalBytes() === 1)
      yield* TestClock.adjust(Duration.days(7))
      yield* s.write("b")
      yield* d.until(() => d.totalBytes() === 2)
      expect(s.isClosed()).toBe(false)
    }))
})

describe("shutdown", () => {
  it.scopedLive("stops accepting, flushes what was received, then closes everything", () =>
    Effect.gen(function*() {
      // A destination that is slow to read, so data is still in the proxy when shutdown starts.
      const d = yield* destination({ stalled: true })
      const scope = yield* Scope.make()
      const proxy = yield* startProxy([d.endpoint], {
        bufferBytes: 16 * 1024 * 1024,
        writeTimeout: Duration.seconds(30)
      }).pipe(Scope.extend(scope))
      const s = yield* source(proxy.address.port)
      const data = pattern(8 * 1024 * 1024, 3)
      yield* s.write(data)
      yield* statsUntil(proxy, (stats) => stats.bytesReceived === data.length)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      d.connections[0]!.socket.resume()
      yield* Fiber.join(closing)
      yield* d.until(() => d.connections[0]!.ended)
      expect(d.connections[0]!.data().equals(data)).toBe(true)
      yield* s.until(() => s.isClosed())
      expect(yield* refusesConnections(proxy.address.port)).toBe(true)
    }))
})

describe("embedding", () => {
  it.scopedLive("the proxy is a Layer: its service gives the address and stats; closing its scope closes everything", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        Proxy.layer(makeProxyConfig({ listen: { host: loopback, port: 0 }, destinations: [d.endpoint] })),
        scope
      )
      const proxy = Context.get(context, Proxy.Proxy)
      const s = yield* source(proxy.address.port)
      yield* s.write("embedded")
      yield* d.until(() => d.totalBytes() === 8)
      const stats = yield* proxy.stats
      expect(stats.openConnections).toBe(1)
      expect(stats.connections[0]!.bytesReceived).toBe(8)
      expect(stats.destinations[0]).toMatchObject({ state: "up", connected: 1, delivered: 8, dropped: 0 })
      yield* Scope.close(scope, Exit.void)
      yield* d.until(() => d.connections[0]!.closed)
      yield* s.until(() => s.isClosed())
      expect(yield* refusesConnections(proxy.address.port)).toBe(true)
    }))

  it.scopedLive("Proxy.layerFromEnv reads the SOCKET_PROXY_* contract through Config", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const env = ConfigProvider.fromMap(
        new Map([
          ["SOCKET_PROXY_LISTEN_PORT", `${loopback}:0`],
          ["SOCKET_PROXY_DESTINATIONS", `${loopback}:${d.port}`]
        ])
      )
      const context = yield* Layer.build(Proxy.layerFromEnv).pipe(Effect.withConfigProvider(env))
      const proxy = Context.get(context, Proxy.Proxy)
      expect(proxy.address.host).toBe(loopback)
      const s = yield* source(proxy.address.port)
      yield* s.write("from env")
      yield* d.until(() => d.totalBytes() === 8)
      const failure = yield* Effect.flip(
        Proxy.Proxy.pipe(
          Effect.provide(Proxy.layerFromEnv),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["SOCKET_PROXY_LISTEN_PORT", "0"]])))
        )
      )
      expect(failure._tag).toBe("MissingConfig")
    }))

  it.scopedLive("fails with a ListenError an embedding program can match on", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const first = yield* startProxy([d.endpoint])
      const error = yield* Effect.flip(
        startProxy([d.endpoint], { listen: { host: loopback, port: first.address.port } })
      )
      expect(error._tag).toBe("ListenError")
      expect(error.code).toBe("EADDRINUSE")
      expect(error.message).toContain(`${loopback}:${first.address.port}`)
    }))
})

// Heap cost of idle sessions, in process: N sources connected through the proxy
// to 2 destinations, then a full GC; prints heap bytes per session. With
// HEAP_SNAPSHOT=file it also writes a heap snapshot to look into (fibers, closures).
//   node --expose-gc --import tsx bench/probe/idleSessions.ts [N]
import { Duration, Effect, Logger, LogLevel } from "effect"
import * as net from "node:net"
import * as v8 from "node:v8"
import { makeProxyConfig } from "../../src/Proxy/Settings/Config.js"
import * as Proxy from "../../src/Proxy/Proxy.js"

const count = Number(process.argv[2] ?? 1000)
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

const sink = () =>
  new Promise<net.Server>((resolve) => {
    const server = net.createServer((socket) => socket.resume())
    server.listen(0, "127.0.0.1", () => resolve(server))
  })

const heapUsed = () => {
  gc()
  gc()
  return v8.getHeapStatistics().used_heap_size
}

const program = Effect.gen(function*() {
  const sinks = yield* Effect.promise(() => Promise.all([sink(), sink()]))
  const destinations = sinks.map((s) => ({ host: "127.0.0.1", port: (s.address() as net.AddressInfo).port }))
  const idleTimeout = process.env.IDLE === "0" ? { idleTimeout: Duration.zero } : {}
  const proxy = yield* Proxy.make(
    makeProxyConfig({ listen: { host: "127.0.0.1", port: 0 }, destinations, ...idleTimeout })
  )
  yield* Effect.sleep("200 millis")
  const before = heapUsed()
  const sockets: Array<net.Socket> = []
  for (let i = 0; i < count; i++) {
    sockets.push(
      yield* Effect.async<net.Socket>((resume) => {
        const socket = net.connect(proxy.address.port, "127.0.0.1", () => resume(Effect.succeed(socket)))
      })
    )
  }
  while (true) {
    const stats = yield* proxy.stats
    if (stats.destinations.every((d) => d.connected === count)) break
    yield* Effect.sleep("50 millis")
  }
  yield* Effect.sleep("500 millis")
  const after = heapUsed()
  console.log(
    `${count} idle sessions: heap ${((after - before) / count / 1024).toFixed(1)} KiB per session; rss ${
      (process.memoryUsage().rss / 1e6).toFixed(0)
    } MB`
  )
  if (process.env.HEAP_SNAPSHOT) v8.writeHeapSnapshot(process.env.HEAP_SNAPSHOT)
  for (const socket of sockets) socket.destroy()
  for (const s of sinks) s.close()
})

Effect.runPromise(Effect.scoped(program).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))).then(() => process.exit(0))

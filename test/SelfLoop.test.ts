/**
 * A proxy that forwards to itself: refused at start when the configuration shows
 * it (exit 2, one line), and at run time an accepted connection that is one of
 * the proxy's own outbound connections is closed at once (`reason="loop"`).
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { reachesListener } from "../src/Proxy/Edges/SelfLoop.js"
import { runCli } from "./support/Cli.js"
import { freePort, loopback, source } from "./support/Peers.js"
import { startProxy, statsUntil } from "./support/TestProxy.js"

const local = new Set(["localhost", "::1", "0.0.0.0", "::", "myhost", "10.1.2.3", "127.0.0.1"])

describe("self-loop: which destinations are the listen address", () => {
  const cases: ReadonlyArray<
    readonly [string, { host?: string; port: number }, { host: string; port: number }, boolean]
  > = [
    ["the same address and port", { host: "127.0.0.1", port: 18000 }, { host: "127.0.0.1", port: 18000 }, true],
    ["localhost on a loopback listener", { host: "127.0.0.1", port: 18000 }, { host: "localhost", port: 18000 }, true],
    ["::1 on a localhost listener", { host: "localhost", port: 18000 }, { host: "::1", port: 18000 }, true],
    ["any local address on a wildcard listener", { port: 18000 }, { host: "10.1.2.3", port: 18000 }, true],
    ["the host name on a wildcard listener", { host: "::", port: 18000 }, { host: "MyHost", port: 18000 }, true],
    ["127.0.0.5 on a wildcard listener", { host: "0.0.0.0", port: 18000 }, { host: "127.0.0.5", port: 18000 }, true],
    ["another port", { host: "127.0.0.1", port: 18000 }, { host: "127.0.0.1", port: 18001 }, false],
    ["another loopback address", { host: "127.0.0.1", port: 18000 }, { host: "127.0.0.2", port: 18000 }, false],
    ["a remote host on a wildcard listener", { port: 18000 }, { host: "10.9.9.9", port: 18000 }, false],
    ["listen port 0", { host: "127.0.0.1", port: 0 }, { host: "127.0.0.1", port: 0 }, false]
  ]
  for (const [name, listen, destination, loops] of cases) {
    it(`${name}: ${loops ? "a loop" : "not a loop"}`, () => {
      expect(reachesListener(listen, destination, local)).toBe(loops)
    })
  }
})

describe("self-loop: refused at start", () => {
  for (const [listen, dest] of [["127.0.0.1:PORT", "127.0.0.1:PORT"], ["PORT", "localhost:PORT"]] as const) {
    it.scopedLive(`--listen ${listen} --dest ${dest}: exit 2, one line naming the destination`, () =>
      Effect.gen(function*() {
        const port = String(yield* freePort())
        const exit = yield* runCli([
          "proxy",
          "--listen",
          listen.replace("PORT", port),
          "--dest",
          dest.replace("PORT", port)
        ])
        expect(exit.code, exit.stderr).toBe(2)
        const lines = exit.stderr.split("\n").filter((line) => line.trim() !== "")
        expect(lines, exit.stderr).toHaveLength(1)
        expect(lines[0]).toContain(`--dest "${dest.replace("PORT", port)}"`)
        expect(lines[0]).toContain("own listen address")
        expect(exit.stdout).not.toMatch(/listening on/)
      }))
  }
})

describe("self-loop: at run time", () => {
  it.scopedLive("a connection from the proxy's own outbound socket is closed at accept, counted as loop; no flood", () =>
    Effect.gen(function*() {
      // Built in code, the configuration is not checked: the run-time guard is all there is.
      const port = yield* freePort()
      const proxy = yield* startProxy([{ host: loopback, port }], {
        listen: { host: loopback, port },
        maxConnections: 20,
        connectTimeout: Duration.seconds(1)
      })
      const s = yield* source(proxy.address.port)
      yield* s.write("hello")
      // The forwarder dials the proxy, is refused as a loop, and redials with backoff.
      const stats = yield* statsUntil(proxy, (stats) => stats.refusedConnections.loop >= 3)
      expect(stats.acceptedConnections, "only the real source was accepted").toBe(1)
      expect(stats.refusedConnections.max_connections).toBe(0)
      expect(stats.openConnections).toBe(1)
    }))
})

import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { execFileSync } from "node:child_process"
import type * as net from "node:net"
import * as Tcp from "../src/Proxy/DataPath/Tcp.js"
import { loopback } from "./support/Peers.js"
import { helloThroughProxy } from "./support/TestProxy.js"

/** Node keeps what setNoDelay/setKeepAlive last applied under these internal symbols. */
const appliedOption = (socket: net.Socket, name: "kSetNoDelay" | "kSetKeepAlive"): unknown => {
  const symbol = Object.getOwnPropertySymbols(socket).find((s) => s.description === name)
  return symbol === undefined ? undefined : (socket as unknown as Record<symbol, unknown>)[symbol]
}

const ssAvailable = (() => {
  try {
    execFileSync("ss", ["-V"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

describe("socket options", () => {
  it.scopedLive("every socket the proxy opens or accepts has no-delay and keep-alive on", () =>
    Effect.gen(function*() {
      const listener = yield* Tcp.listen({ host: loopback, port: 0 })
      const outbound = yield* Tcp.connect(listener.address, Duration.seconds(3))
      const accepted = yield* listener.accept
      if (accepted._tag !== "Socket") return yield* Effect.die(accepted.reason)
      for (const socket of [outbound.socket, accepted.socket]) {
        expect(appliedOption(socket, "kSetNoDelay")).toBe(true)
        expect(appliedOption(socket, "kSetKeepAlive")).toBe(true)
      }
    }))

  it.scopedLive.skipIf(!ssAvailable)(
    "the kernel runs keep-alive timers on the proxy's sockets (ss)",
    () =>
      Effect.gen(function*() {
        const { d, proxy, s } = yield* helloThroughProxy()
        // With a state filter, ss prints: Recv-Q Send-Q Local Peer [timer:(...)]
        const sockets = execFileSync("ss", ["-tnoH", "state", "established"], { encoding: "utf8" })
          .split("\n")
          .map((line) => line.trim().split(/\s+/))
        const find = (local: string, peer: string) =>
          sockets.find((columns) => columns[2] === local && columns[3] === peer)?.join(" ")
        const inbound = find(`${loopback}:${proxy.address.port}`, `${loopback}:${s.socket.localPort}`)
        const outbound = find(`${loopback}:${d.connections[0]!.socket.remotePort}`, `${loopback}:${d.port}`)
        expect(inbound).toMatch(/timer:\(keepalive/)
        expect(outbound).toMatch(/timer:\(keepalive/)
      })
  )
})

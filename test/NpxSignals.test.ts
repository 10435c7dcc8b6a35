/**
 * The proxy started exactly as the README says, `npx tsx src/main.ts proxy ...`:
 * a SIGTERM or SIGINT sent to that process (npx, the one the user started) ends
 * in the drain and exit 0, and nothing it started is left holding the port.
 *
 * Under npx there are four processes: npx, its shell, tsx's CLI and the proxy.
 * With the project's `.npmrc` (`script-shell=bash`) the shell becomes tsx and the
 * signal is relayed down to the proxy. With a shell that dies of the signal
 * instead (dash, `sh`), npx exits by the signal at once and the proxy notices
 * that its launcher is gone (`src/Cli/LauncherWatch.ts`) and drains as on SIGTERM.
 *
 * `close` of the spawned npx comes only once every process of the group has
 * closed the output pipes, so "exited" here means all four are gone.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as net from "node:net"
import { parentOf, runByTsxCli } from "../src/Cli/LauncherWatch.js"
import type { CliExit } from "./support/Cli.js"
import { listeningPort, spawnCli } from "./support/Cli.js"
import { destination, loopback, pattern, source } from "./support/Peers.js"

const npxTsx = ["npx", "tsx", "src/main.ts"] as const

/** tsx compiles every module on a cold start; on a loaded 2-core machine that took up to 12 s. */
const startWithin = Duration.seconds(45)

const transcript = (exit: CliExit): string =>
  `exit code ${exit.code}, signal ${exit.signal}, after ${Duration.format(exit.elapsed)}\n` +
  `--- stdout ---\n${exit.stdout}\n--- stderr ---\n${exit.stderr}`

/** Binds `port` on loopback and lets it go: true if nothing holds it. */
const canBind = (port: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const server = net.createServer()
    server.once("error", () => resume(Effect.succeed(false)))
    server.listen({ host: loopback, port }, () => server.close(() => resume(Effect.succeed(true))))
  })

/**
 * Starts the proxy through npx, delivers `first`, sends `last` and signals npx
 * straight after; everything must reach the destination, which then sees EOF.
 */
const drainsThroughNpx = (signal: NodeJS.Signals, env: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function*() {
    const d = yield* destination()
    const proxy = yield* spawnCli(["proxy", "--listen", `${loopback}:0`, "--dest", `${loopback}:${d.port}`], {
      program: npxTsx,
      env
    })
    const port = yield* listeningPort(proxy, startWithin)
    const first = pattern(256 * 1024, 7)
    const last = pattern(32 * 1024, 8)
    const s = yield* source(port)
    yield* s.write(first)
    yield* d.until(() => d.totalBytes() >= first.length)
    yield* s.write(last)
    yield* proxy.kill(signal)
    const exit = yield* proxy.waitForExit(Duration.seconds(15))
    expect(exit.stdout, transcript(exit)).toMatch(/shutting down: draining 1 connection\(s\)/)
    yield* d.until(() => d.connections.every((c) => c.closed), Duration.seconds(5))
    expect(d.connections).toHaveLength(1)
    const received = d.connections[0]!
    expect(received.data().equals(Buffer.concat([first, last])), "every byte, in order").toBe(true)
    expect(received.ended, "the destination saw EOF (FIN), not a reset").toBe(true)
    expect(yield* canBind(port), `port ${port} is free after the exit\n${transcript(exit)}`).toBe(true)
    return exit
  })

describe("signals through `npx tsx src/main.ts proxy` (the README's command)", () => {
  it.scopedLive("SIGTERM to npx: the drain, exit 0, the port free", () =>
    Effect.gen(function*() {
      const exit = yield* drainsThroughNpx("SIGTERM")
      expect(exit.code, transcript(exit)).toBe(0)
      expect(exit.signal, transcript(exit)).toBeNull()
    }), 90_000)

  it.scopedLive("SIGINT to npx: the drain, exit 0, the port free", () =>
    Effect.gen(function*() {
      const exit = yield* drainsThroughNpx("SIGINT")
      expect(exit.code, transcript(exit)).toBe(0)
      expect(exit.signal, transcript(exit)).toBeNull()
    }), 90_000)

  it.scopedLive(
    "with a shell that dies of SIGTERM (script-shell=sh): npx exits by the signal, the proxy notices and drains",
    () =>
      Effect.gen(function*() {
        const exit = yield* drainsThroughNpx("SIGTERM", { npm_config_script_shell: "sh" })
        // npm re-raises the signal its shell died of: that exit code is npm's, not the proxy's.
        expect(exit.signal, transcript(exit)).toBe("SIGTERM")
        expect(exit.stdout, transcript(exit)).toMatch(/is gone: shutting down as on SIGTERM/)
      }),
    90_000
  )
})

describe("the launcher watch", () => {
  it("is on only in the program tsx's CLI runs (its preflight script loaded), not under node --import tsx", () => {
    expect(
      runByTsxCli([
        "--require",
        "/x/node_modules/tsx/dist/preflight.cjs",
        "--import",
        "file:///x/node_modules/tsx/dist/loader.mjs"
      ])
    )
      .toBe(true)
    expect(runByTsxCli(["--import", "tsx"])).toBe(false)
    expect(runByTsxCli([])).toBe(false)
  })

  it("reads a process's parent from /proc", () => {
    expect(parentOf(process.pid)).toBe(process.ppid)
    expect(parentOf(2 ** 22 + 12345)).toBeUndefined()
  })
})

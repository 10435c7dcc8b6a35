/**
 * The one-file build: `scripts/build.mjs` bundles src/main.ts into a temp dir, and the
 * bundle runs there alone with plain `node` (no tsx, no node_modules beside it): the
 * old app's env contract with a fan-out to two real destinations (one on ::1), exact
 * bytes, SIGTERM exit 0; a bad configuration's exit 2. Also: `--version` is
 * package.json's version, from the bundle and from the source.
 * (CI's scripts/smoke-bundle.mjs checks the real dist/ file and the packed tarball.)
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { listeningPort, nonEmptyLines, repoRoot, runCli, spawnCli } from "./support/Cli.js"
import { destination, loopback, pattern, source } from "./support/Peers.js"

let work = ""
let bundle = ""

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "socket-proxy-build-test-"))
  bundle = path.join(work, "socket-proxy.mjs")
  await promisify(execFile)(process.execPath, [path.join(repoRoot, "scripts", "build.mjs"), "--outfile", bundle])
}, 60_000)

afterAll(async () => {
  if (work !== "") await rm(work, { recursive: true, force: true })
})

/** The bundle, run with plain node; it sits in a temp dir, so no node_modules is reachable from it. */
const fromBundle = () => ({ program: [process.execPath, bundle] })

const packageVersion = async (): Promise<string> =>
  (JSON.parse(await readFile(path.join(repoRoot, "package.json"), "utf8")) as { version: string }).version

describe("one-file build", () => {
  it.scopedLive("runs alone from the env contract: two destinations get every byte; SIGTERM exits 0", () =>
    Effect.gen(function*() {
      const d1 = yield* destination()
      const d2 = yield* destination({ host: "::1" })
      const proxy = yield* spawnCli(["proxy"], {
        ...fromBundle(),
        env: {
          SOCKET_PROXY_LISTEN_PORT: `${loopback}:0`,
          SOCKET_PROXY_DESTINATIONS: `${loopback}:${d1.port}, [::1]:${d2.port}`
        }
      })
      const port = yield* listeningPort(proxy)
      const s = yield* source(port)
      const data = pattern(256 * 1024)
      yield* s.write(data)
      yield* s.end
      for (const d of [d1, d2]) {
        yield* d.until(() => d.connections.length === 1 && d.connections[0]!.ended)
        expect(d.connections[0]!.data().equals(data)).toBe(true)
      }
      yield* proxy.kill("SIGTERM")
      const exit = yield* proxy.waitForExit()
      expect(exit.code, exit.stderr).toBe(0)
    }))

  it.live("exits 2 on a bad configuration, with one line on stderr", () =>
    Effect.gen(function*() {
      const exit = yield* runCli(["proxy", "--listen", `${loopback}:0`, "--dest", "nocolon"], fromBundle())
      expect(exit.code).toBe(2)
      const lines = nonEmptyLines(exit.stderr)
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain("nocolon")
    }))

  it.live("--version is package.json's version, from the bundle and from the source", () =>
    Effect.gen(function*() {
      const version = yield* Effect.promise(packageVersion)
      for (const options of [fromBundle(), {}]) {
        const exit = yield* runCli(["--version"], options)
        expect(exit.code).toBe(0)
        expect(exit.stdout.trim()).toBe(version)
      }
    }))
})

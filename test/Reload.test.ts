/**
 * `proxy --config FILE` as a service runs it, in real processes: several routes
 * in one process, `--check`, and reloads (SIGHUP and the watch of the file's
 * directory): a route added and removed, a listen address moved, a bad edit and
 * an address that cannot be bound refused as a whole; SIGHUP without a file.
 * Every port is ephemeral; every wait is on a log line or a socket event.
 */
import { describe, expect, it } from "@effect/vitest"
import { vi } from "vitest"
import { Duration, Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { CliExit, CliProcess } from "./support/Cli.js"
import { listeningPort, nonEmptyLines, runCli, spawnCli } from "./support/Cli.js"
import { destination, loopback, refusesConnections, source } from "./support/Peers.js"
import type { TestDestination } from "./support/Peers.js"
import { scrapeUntil } from "./support/Scrape.js"

// Each test starts real processes; on a loaded 2-core machine that takes seconds per process.
vi.setConfig({ testTimeout: 90_000 })

const transcript = (exit: CliExit): string =>
  `exit code ${exit.code}, signal ${exit.signal}\n--- stdout ---\n${exit.stdout}\n--- stderr ---\n${exit.stderr}`

/** A fresh directory for the configuration file; the scope removes it. */
const configDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "socket-proxy-reload-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** Replaces `file` as editors do: a new file renamed over the old one. */
const replaceFile = (file: string, text: string) =>
  Effect.sync(() => {
    const temporary = `${file}.tmp-${process.pid}`
    fs.writeFileSync(temporary, text)
    fs.renameSync(temporary, file)
  })

const at = (d: TestDestination) => `"${loopback}:${d.port}"`

const routeYaml = (name: string, listen: string, destinations: ReadonlyArray<TestDestination>) =>
  `  - name: ${name}\n    listen: "${listen}"\n    destinations: [${destinations.map(at).join(", ")}]\n`

const fileOf = (...routes: ReadonlyArray<string>) => `drain-timeout: 2s\nroutes:\n${routes.join("")}`

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** The port route `name` listens on, from its `listening on HOST:PORT ... route=NAME` line. */
const routePort = (proxy: CliProcess, name: string) =>
  Effect.map(
    proxy.waitForLine(new RegExp(`listening on (\\S+):(\\d+)[ ,].* route=${name}$`), startup),
    (m) => Number(m[2])
  )

/** Starting tsx takes seconds on a loaded machine. */
const startup = Duration.seconds(40)
/** A reload, a drain: quick, but not on a loaded machine. */
const later = Duration.seconds(20)

const startProxy = (file: string, extra: ReadonlyArray<string> = []) => spawnCli(["proxy", "--config", file, ...extra])

describe("config file: several routes in one process", () => {
  it.scopedLive("each route forwards to its own destinations", () =>
    Effect.gen(function*() {
      const dir = yield* configDir
      const [d1, d2, d3] = [yield* destination(), yield* destination(), yield* destination()]
      const file = path.join(dir, "proxy.yaml")
      fs.writeFileSync(
        file,
        fileOf(routeYaml("one", `${loopback}:0`, [d1]), routeYaml("two", `${loopback}:0`, [d2, d3]))
      )
      const proxy = yield* startProxy(file)
      const one = yield* routePort(proxy, "one")
      const two = yield* routePort(proxy, "two")
      const s1 = yield* source(one)
      yield* s1.write("for one")
      const s2 = yield* source(two)
      yield* s2.write("for two")
      yield* d1.until(() => d1.totalBytes() === 7)
      for (const d of [d2, d3]) yield* d.until(() => d.totalBytes() === 7)
      expect(d1.connections[0]!.data().toString()).toBe("for one")
      expect(d2.connections[0]!.data().toString()).toBe("for two")
      expect(d1.connections).toHaveLength(1)
    }))
})

describe("config file: --check", () => {
  it.scopedLive("a good file: exit 0 and what it holds; a bad one: exit 2 and the one line", () =>
    Effect.gen(function*() {
      const dir = yield* configDir
      const good = path.join(dir, "good.yaml")
      fs.writeFileSync(good, `routes:\n  - { name: a, listen: 8000, destinations: ["127.0.0.1:9"] }\n`)
      const ok = yield* runCli(["proxy", "--config", good, "--check"], {}, startup)
      expect(ok.code, transcript(ok)).toBe(0)
      expect(ok.stdout).toContain("valid; 1 route(s): a on *:8000 -> 127.0.0.1:9")
      const bad = path.join(dir, "bad.json")
      fs.writeFileSync(
        bad,
        JSON.stringify({ routes: [{ name: "a", listen: 1, destinations: [{ address: "x:1", bufer: 1 }] }] })
      )
      const refused = yield* runCli(["proxy", "--check", "--config", bad], {}, startup)
      expect(refused.code, transcript(refused)).toBe(2)
      expect(nonEmptyLines(refused.stderr), transcript(refused)).toEqual([
        `socket-proxy: ${bad}: routes[0].destinations[0].bufer: unknown key; expected one of address, connect-timeout, write-timeout, buffer, sample, send-proxy-protocol, tls`
      ])
      const fromEnv = yield* runCli(["proxy", "--check"], { env: { SOCKET_PROXY_CONFIG: good } }, startup)
      expect(fromEnv.code, transcript(fromEnv)).toBe(0)
    }))

  it.scopedLive("--listen with --config is a usage error", () =>
    Effect.gen(function*() {
      const exit = yield* runCli(["proxy", "--config", "proxy.yaml", "--dest", "a:1"], {}, startup)
      expect(exit.code, transcript(exit)).toBe(2)
      expect(nonEmptyLines(exit.stderr)).toHaveLength(1)
      expect(exit.stderr).toContain("--dest \"a:1\" cannot be used with --config")
    }))
})

describe("config file: reload", () => {
  it.scopedLive("SIGHUP: a route added and one removed (its connection drains); a bad edit changes nothing; counted", () =>
    Effect.gen(function*() {
      const dir = yield* configDir
      const [d1, d2] = [yield* destination(), yield* destination()]
      const file = path.join(dir, "proxy.yaml")
      fs.writeFileSync(
        file,
        `metrics: "${loopback}:0"\n` +
          fileOf(routeYaml("one", `${loopback}:0`, [d1]), routeYaml("two", `${loopback}:0`, [d2]))
      )
      const proxy = yield* startProxy(file)
      const metricsPort = Number((yield* proxy.waitForLine(/metrics and health on http:\/\/\S+:(\d+)/, startup))[1])
      const one = yield* routePort(proxy, "one")
      const two = yield* routePort(proxy, "two")
      const onTwo = yield* source(two)
      yield* onTwo.write("before")
      yield* d2.until(() => d2.totalBytes() === 6)

      // Unchanged: SIGHUP still reloads, and says so.
      yield* proxy.kill("SIGHUP")
      yield* proxy.waitForLine(/reloaded \S+ \(SIGHUP\): nothing changed/, later)

      yield* replaceFile(
        file,
        `metrics: "${loopback}:0"\n` +
          fileOf(routeYaml("one", `${loopback}:0`, [d1]), routeYaml("three", `${loopback}:0`, [d2]))
      )
      yield* proxy.kill("SIGHUP")
      const reloaded = yield* proxy.waitForLine(
        /reloaded \S+ \((?:SIGHUP|file changed)\): .*route three added.*route two removed/,
        later
      )
      expect(reloaded.input).not.toContain("refused")
      const three = yield* routePort(proxy, "three")
      // The removed route's connection drains as on shutdown: what it sent is delivered, then EOF.
      yield* d2.until(() => d2.connections[0]!.ended)
      expect(d2.connections[0]!.data().toString()).toBe("before")
      yield* onTwo.until(() => onTwo.isClosed())
      expect(yield* refusesConnections(two)).toBe(true)
      const onThree = yield* source(three)
      yield* onThree.write("after")
      yield* d2.until(() => d2.connections.length === 2 && d2.connections[1]!.bytes === 5)

      // A bad edit: one error line naming the key, and everything goes on as it was.
      yield* replaceFile(file, fileOf(routeYaml("one", `${loopback}:0`, [d1])) + "    bufer: 1MiB\n")
      yield* proxy.kill("SIGHUP")
      const refusal = yield* proxy.waitForLine(
        /level=ERROR .*refused, nothing changed: .*routes\[0\]\.bufer: unknown key/,
        later
      )
      expect(refusal.input).toContain(file)
      yield* onThree.write("still")
      yield* d2.until(() => d2.connections[1]!.bytes === 10)
      const onOne = yield* source(one)
      yield* onOne.write("one")
      yield* d1.until(() => d1.totalBytes() === 3)
      const samples = yield* scrapeUntil(
        metricsPort,
        (m) => (m.get("socket_proxy_config_reloads_total{result=\"failed\"}") ?? 0) >= 1
      )
      expect(samples.get("socket_proxy_config_reloads_total{result=\"applied\"}")).toBeGreaterThanOrEqual(2)
      expect(samples.get("socket_proxy_connections_open{route=\"three\"}")).toBe(1)
      yield* proxy.kill("SIGTERM")
      const exit = yield* proxy.waitForExit(Duration.seconds(10))
      expect(exit.code, transcript(exit)).toBe(0)
    }))

  it.scopedLive("open connections follow destinations added and removed, without the source reconnecting", () =>
    Effect.gen(function*() {
      const dir = yield* configDir
      const [d1, d2] = [yield* destination(), yield* destination()]
      const file = path.join(dir, "proxy.yaml")
      const routeWith = (...ds: ReadonlyArray<TestDestination>) => fileOf(routeYaml("r", `${loopback}:0`, ds))
      fs.writeFileSync(file, routeWith(d1))
      const proxy = yield* startProxy(file)
      const port = yield* routePort(proxy, "r")
      const s = yield* source(port)
      // Numbered records, paced, until told to stop: each destination connection must carry a contiguous run.
      let sent = 0
      let streaming = true
      const record = (n: number) => `${String(n).padStart(8, "0")}\n`
      const stream = yield* Effect.fork(Effect.gen(function*() {
        while (streaming) {
          yield* s.write(record(sent++))
          yield* Effect.sleep(Duration.millis(2))
        }
      }))
      yield* d1.until(() => d1.totalBytes() >= 20 * 9, later)

      yield* replaceFile(file, routeWith(d1, d2))
      yield* proxy.kill("SIGHUP")
      yield* proxy.waitForLine(/reloaded \S+ \((?:SIGHUP|file changed)\): .*/, later)
      yield* d2.until(() => d2.totalBytes() >= 20 * 9, later)

      yield* replaceFile(file, routeWith(d2))
      yield* proxy.kill("SIGHUP")
      // The removed destination gets everything up to its removal, then EOF.
      yield* d1.until(() => d1.connections[0]?.ended === true, later)
      const atRemoval = d2.totalBytes()
      yield* d2.until(() => d2.totalBytes() >= atRemoval + 20 * 9, later)

      // Added again: a new connection, from then on.
      yield* replaceFile(file, routeWith(d2, d1))
      yield* proxy.kill("SIGHUP")
      yield* d1.until(() => (d1.connections[1]?.data().length ?? 0) >= 20 * 9, later)
      streaming = false
      yield* stream.await
      yield* s.end
      yield* d2.until(() => d2.connections[0]?.ended === true, later)
      yield* d1.until(() => d1.connections[1]?.ended === true, later)

      const numbers = (data: Buffer) => {
        const text = data.toString()
        expect(text.endsWith("\n")).toBe(true)
        return text.slice(0, -1).split("\n").map(Number)
      }
      const contiguous = (ns: ReadonlyArray<number>) => ns.every((n, i) => i === 0 || n === ns[i - 1]! + 1)
      expect(d1.connections).toHaveLength(2)
      expect(d2.connections).toHaveLength(1)
      const first = numbers(d1.connections[0]!.data())
      const second = numbers(d2.connections[0]!.data())
      const again = numbers(d1.connections[1]!.data())
      expect(first[0]).toBe(0)
      expect(contiguous(first)).toBe(true)
      expect(contiguous(second)).toBe(true)
      expect(contiguous(again)).toBe(true)
      // The added destination got everything from when it was added to the source's end.
      expect(second.at(-1)).toBe(sent - 1)
      expect(second[0]!).toBeGreaterThan(0)
      expect(first.at(-1)!).toBeLessThan(sent - 1)
      // Added again after its removal: what the source sent from then on.
      expect(again[0]!).toBeGreaterThan(first.at(-1)!)
      expect(again.at(-1)).toBe(sent - 1)
      yield* proxy.kill("SIGTERM")
      const exit = yield* proxy.waitForExit(Duration.seconds(10))
      expect(exit.code, transcript(exit)).toBe(0)
    }))

  it.scopedLive("sample: P% forwards each source connection to that destination with probability P, counted", () =>
    Effect.gen(function*() {
      const dir = yield* configDir
      const [sampled, full] = [yield* destination(), yield* destination()]
      const file = path.join(dir, "proxy.yaml")
      fs.writeFileSync(
        file,
        `metrics: "${loopback}:0"\nroutes:\n  - name: r\n    listen: "${loopback}:0"\n    destinations:\n` +
          `      - address: ${at(sampled)}\n        sample: 50%\n      - ${at(full)}\n`
      )
      const proxy = yield* startProxy(file)
      const metricsPort = Number((yield* proxy.waitForLine(/metrics and health on http:\/\/\S+:(\d+)/, startup))[1])
      const port = yield* routePort(proxy, "r")
      const count = 40
      for (let i = 0; i < count; i++) yield* Effect.flatMap(source(port), (s) => s.write("x"))
      yield* full.until(() => full.connections.length === count && full.totalBytes() === count, later)
      const out = `socket_proxy_destination_sampled_out_total{destination="${loopback}:${sampled.port}",route="r"}`
      const samples = yield* scrapeUntil(metricsPort, (m) => (m.get(out) ?? 0) + sampled.connections.length === count)
      // 40 draws at 50%: all alike has a chance of 2^-39.
      expect(sampled.connections.length).toBeGreaterThan(0)
      expect(samples.get(out)).toBeGreaterThan(0)
      yield* proxy.kill("SIGTERM")
      expect((yield* proxy.waitForExit(Duration.seconds(10))).code).toBe(0)
    }))

  it.scopedLive("the watch: a file renamed over the old one is reloaded without a signal", () =>
    Effect.gen(function*() {
      const dir = yield* configDir
      const [d1, d2] = [yield* destination(), yield* destination()]
      const file = path.join(dir, "proxy.yml")
      fs.writeFileSync(file, fileOf(routeYaml("one", `${loopback}:0`, [d1])))
      const proxy = yield* startProxy(file)
      yield* routePort(proxy, "one")
      yield* replaceFile(file, fileOf(routeYaml("one", `${loopback}:0`, [d1]), routeYaml("two", `${loopback}:0`, [d2])))
      yield* proxy.waitForLine(/reloaded \S+ \(file changed\): route two added/, later)
      const two = yield* routePort(proxy, "two")
      const s = yield* source(two)
      yield* s.write("watched")
      yield* d2.until(() => d2.totalBytes() === 7)
    }))

  it.scopedLive("the watch: a Kubernetes ConfigMap update (a symlink swapped to a new directory) is reloaded", () =>
    Effect.gen(function*() {
      const dir = yield* configDir
      const [d1, d2] = [yield* destination(), yield* destination()]
      // The kubelet's layout: proxy.yaml -> ..data/proxy.yaml, ..data -> ..<timestamp>/
      const version = (name: string, text: string) => {
        fs.mkdirSync(path.join(dir, name))
        fs.writeFileSync(path.join(dir, name, "proxy.yaml"), text)
      }
      version("..v1", fileOf(routeYaml("one", `${loopback}:0`, [d1])))
      fs.symlinkSync("..v1", path.join(dir, "..data"))
      fs.symlinkSync(path.join("..data", "proxy.yaml"), path.join(dir, "proxy.yaml"))
      const file = path.join(dir, "proxy.yaml")
      const proxy = yield* startProxy(file)
      yield* routePort(proxy, "one")
      version("..v2", fileOf(routeYaml("one", `${loopback}:0`, [d1]), routeYaml("two", `${loopback}:0`, [d2])))
      fs.symlinkSync("..v2", path.join(dir, "..data_tmp"))
      fs.renameSync(path.join(dir, "..data_tmp"), path.join(dir, "..data"))
      yield* proxy.waitForLine(/reloaded \S+ \(file changed\): route two added/, later)
      const s = yield* source(yield* routePort(proxy, "two"))
      yield* s.write("swapped")
      yield* d2.until(() => d2.totalBytes() === 7)
    }))

  it.scopedLive("a moved listen address: the new one is bound before the old one closes; open connections stay", () =>
    Effect.gen(function*() {
      const dir = yield* configDir
      const d1 = yield* destination()
      const file = path.join(dir, "proxy.yaml")
      fs.writeFileSync(file, fileOf(routeYaml("one", `${loopback}:0`, [d1])))
      const proxy = yield* startProxy(file)
      const oldPort = yield* routePort(proxy, "one")
      const s = yield* source(oldPort)
      yield* s.write("first")
      yield* d1.until(() => d1.totalBytes() === 5)
      yield* replaceFile(file, fileOf(routeYaml("one", "[::1]:0", [d1])))
      yield* proxy.kill("SIGHUP")
      const moved = yield* proxy.waitForLine(/listening on \[::1\]:(\d+) instead of /, later)
      expect(yield* refusesConnections(oldPort)).toBe(true)
      yield* s.write("second")
      yield* d1.until(() => d1.totalBytes() === 11)
      expect(d1.connections).toHaveLength(1)
      const s2 = yield* source(Number(moved[1]), "::1")
      yield* s2.write("new")
      yield* d1.until(() => d1.connections.length === 2 && d1.connections[1]!.bytes === 3)
    }))

  it.scopedLive("a reload that needs an address that cannot be bound changes nothing", () =>
    Effect.gen(function*() {
      const dir = yield* configDir
      const [d1, d2] = [yield* destination(), yield* destination()]
      const taken = yield* destination()
      const file = path.join(dir, "proxy.yaml")
      fs.writeFileSync(file, fileOf(routeYaml("one", `${loopback}:0`, [d1]), routeYaml("two", `${loopback}:0`, [d2])))
      const proxy = yield* startProxy(file)
      const two = yield* routePort(proxy, "two")
      // Adds a route on a port in use, and drops route two: neither may happen.
      yield* replaceFile(
        file,
        fileOf(routeYaml("one", `${loopback}:0`, [d1, d2]), routeYaml("three", `${loopback}:${taken.port}`, [d2]))
      )
      yield* proxy.kill("SIGHUP")
      yield* proxy.waitForLine(
        new RegExp(`refused, nothing changed: cannot listen on ${escape(`${loopback}:${taken.port}`)}`)
      )
      const s = yield* source(two)
      yield* s.write("two still")
      yield* d2.until(() => d2.totalBytes() === 9)
      expect(taken.connections).toHaveLength(0)
    }))
})

describe("SIGHUP without --config", () => {
  it.scopedLive("is logged and ignored; the proxy goes on and still drains on SIGTERM", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const proxy = yield* spawnCli(["proxy", "--listen", `${loopback}:0`, "--dest", `${loopback}:${d.port}`])
      const port = yield* listeningPort(proxy, startup)
      yield* proxy.kill("SIGHUP")
      yield* proxy.waitForLine(/no configuration file to reload/, later)
      const s = yield* source(port)
      yield* s.write("alive")
      yield* d.until(() => d.totalBytes() === 5)
      expect(proxy.exit()).toBeUndefined()
      yield* proxy.kill("SIGTERM")
      const exit = yield* proxy.waitForExit(Duration.seconds(10))
      expect(exit.code, transcript(exit)).toBe(0)
    }))
})

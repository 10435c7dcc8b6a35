/**
 * The configuration file, read from real files: YAML and JSON, the Schema made
 * from the settings table, and the one line naming the file, the path of the
 * bad key and what is wrong.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, LogLevel } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { loadConfigFile } from "../src/ConfigFile/Load.js"
import { repoRoot } from "./support/Cli.js"

/** Writes `text` to a new file named `name` in a fresh temporary directory; the scope removes it. */
const writeFile = (name: string, text: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "socket-proxy-config-"))
      const file = path.join(dir, name)
      fs.writeFileSync(file, text)
      return file
    }),
    (file) => Effect.sync(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }))
  )

const load = (name: string, text: string, flags = {}) =>
  Effect.flatMap(
    writeFile(name, text),
    (file) => Effect.map(loadConfigFile(file, flags), (config) => ({ file, config }))
  ).pipe(
    Effect.provide(NodeFileSystem.layer)
  )

/** The message the file fails with; the test dies if it loads. */
const rejection = (text: string, name = "proxy.yaml") =>
  Effect.flatMap(writeFile(name, text), (file) =>
    loadConfigFile(file, {}).pipe(
      Effect.flip,
      Effect.orDieWith(() => new Error(`expected ${name} to be refused:\n${text}`)),
      Effect.map((error) => ({ file, message: error.message }))
    )).pipe(Effect.provide(NodeFileSystem.layer))

const example = `
write-timeout: 5s
metrics: 127.0.0.1:9100
routes:
  - name: vehicles              # unique, [a-z0-9_-]+
    listen: 8000
    idle-timeout: 10m
    destinations:
      - 127.0.0.1:8080
      - address: archiver:9000
        buffer: 4MiB
        sample: 25%
  - name: signals
    listen: 127.0.0.1:8001
    destinations: [ "10.1.2.3:9000" ]
`

const millis = Duration.toMillis

describe("config file: what it holds", () => {
  it.scoped("the issue's example: top-level defaults, route and destination overrides", () =>
    Effect.gen(function*() {
      const { config } = yield* load("proxy.yaml", example)
      expect(config.metrics).toStrictEqual({ host: "127.0.0.1", port: 9100 })
      expect(config.routes.map((r) => r.name)).toEqual(["vehicles", "signals"])
      const [vehicles, signals] = config.routes
      expect(vehicles!.listen).toStrictEqual({ port: 8000 })
      expect(millis(vehicles!.idleTimeout)).toBe(600_000)
      expect(millis(vehicles!.writeTimeout)).toBe(5_000)
      expect(millis(signals!.idleTimeout)).toBe(30 * 60_000)
      expect(vehicles!.destinations.map((d) => [d.host, d.port, d.bufferBytes, d.sample])).toEqual([
        ["127.0.0.1", 8080, 1024 * 1024, 1],
        ["archiver", 9000, 4 * 1024 * 1024, 0.25]
      ])
      expect(millis(vehicles!.destinations[1]!.writeTimeout)).toBe(5_000)
      expect(signals!.listen).toStrictEqual({ host: "127.0.0.1", port: 8001 })
      expect(config.logLevel).toBe(LogLevel.Info)
    }))

  it.scoped("the same in JSON", () =>
    Effect.gen(function*() {
      const { config } = yield* load(
        "proxy.json",
        JSON.stringify({
          buffer: "64KiB",
          "log-level": "warn",
          routes: [{
            name: "a",
            listen: "127.0.0.1:0",
            destinations: ["127.0.0.1:1", { address: "127.0.0.1:2", "connect-timeout": "1s" }]
          }]
        })
      )
      expect(config.routes[0]!.bufferBytes).toBe(64 * 1024)
      expect(config.logLevel).toBe(LogLevel.Warning)
      expect(millis(config.routes[0]!.destinations[1]!.connectTimeout)).toBe(1_000)
    }))

  it.effect("deploy/config/socket-proxy.yaml, the full example, is valid", () =>
    Effect.gen(function*() {
      const config = yield* loadConfigFile(path.join(repoRoot, "deploy", "config", "socket-proxy.yaml"), {})
      expect(config.routes.map((r) => r.name)).toEqual(["vehicles", "signals"])
      expect(config.routes[0]!.destinations[2]!.bufferBytes).toBe(4 * 1024 * 1024)
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("the PROXY protocol: accept per route, send at the top, per route and per destination (off too)", () =>
    Effect.gen(function*() {
      const { config } = yield* load(
        "proxy.yaml",
        `
send-proxy-protocol: v1
routes:
  - name: behind-balancer
    listen: 8000
    accept-proxy-protocol: true
    send-proxy-protocol: v2
    destinations:
      - 127.0.0.1:8080
      - { address: 127.0.0.1:8081, send-proxy-protocol: off }
  - name: direct
    listen: 8001
    destinations: [ "127.0.0.1:8082" ]
`
      )
      const [behind, direct] = config.routes
      expect(behind!.acceptProxyProtocol).toBe(true)
      expect(behind!.destinations.map((d) => d.sendProxyProtocol)).toEqual(["v2", "off"])
      expect(direct!.acceptProxyProtocol).toBe(false)
      expect(direct!.destinations.map((d) => d.sendProxyProtocol)).toEqual(["v1"])
    }))

  it.scoped("a flag wins over the file's top level", () =>
    Effect.gen(function*() {
      const { config } = yield* load("proxy.yml", example, { writeTimeout: "2s", metrics: "127.0.0.1:9200" })
      expect(millis(config.routes[0]!.writeTimeout)).toBe(2_000)
      expect(config.metrics).toStrictEqual({ host: "127.0.0.1", port: 9200 })
    }))
})

const route = (extra = "") => `{ name: a, listen: 1, destinations: ["x:1"]${extra} }`

const bad: ReadonlyArray<
  { readonly name: string; readonly text: string; readonly file?: string; readonly says: ReadonlyArray<string> }
> = [
  {
    name: "an unknown key of a destination",
    text: `routes: [${route()}, { name: b, listen: 2, destinations: ["x:1", { address: "y:1", bufer: 1MiB }] }]`,
    says: ["routes[1].destinations[1].bufer", "unknown key", "buffer"]
  },
  { name: "an unknown top-level key", text: `routs: []`, says: ["routs: unknown key", "routes"] },
  { name: "--listen's key at the top", text: `listen: 5\nroutes: [${route()}]`, says: ["listen: unknown key"] },
  {
    name: "a top-level-only key in a route",
    text: `routes: [${route(", drain-timeout: 5s")}]`,
    says: ["routes[0].drain-timeout", "unknown key"]
  },
  {
    name: "a bad value",
    text: `routes: [${route()}, { name: b, listen: 2, destinations: [{ address: "y:1", buffer: lots }] }]`,
    says: ["routes[1].destinations[0].buffer", "\"lots\"", "KiB"]
  },
  {
    name: "a wrong type",
    text: `routes: [{ name: a, listen: true, destinations: ["x:1"] }]`,
    says: ["routes[0].listen", "got true"]
  },
  {
    name: "accept-proxy-protocol not true or false",
    text: `routes: [${route(", accept-proxy-protocol: maybe")}]`,
    says: ["routes[0].accept-proxy-protocol", "\"maybe\"", "true or false"]
  },
  {
    name: "accept-proxy-protocol on a destination",
    text: `routes: [{ name: a, listen: 1, destinations: [{ address: "x:1", accept-proxy-protocol: true }] }]`,
    says: ["routes[0].destinations[0].accept-proxy-protocol", "unknown key"]
  },
  {
    name: "send-proxy-protocol of an unknown version",
    text: `routes: [${route(", send-proxy-protocol: v3")}]`,
    says: ["routes[0].send-proxy-protocol", "\"v3\"", "v1, v2 or off"]
  },
  {
    name: "a destination of the wrong type",
    text: `routes: [{ name: a, listen: 1, destinations: [5] }]`,
    says: ["routes[0].destinations[0]", "HOST:PORT"]
  },
  {
    name: "destinations not a list",
    text: `routes: [{ name: a, listen: 1, destinations: "x:1" }]`,
    says: ["routes[0].destinations", "list"]
  },
  {
    name: "a missing key",
    text: `routes: [{ name: a, destinations: ["x:1"] }]`,
    says: ["routes[0].listen", "missing"]
  },
  {
    name: "a bad route name",
    text: `routes: [{ name: Vehicles, listen: 1, destinations: ["x:1"] }]`,
    says: ["routes[0].name", "lower-case"]
  },
  {
    name: "duplicate route names",
    text: `routes: [${route()}, { name: a, listen: 2, destinations: ["x:1"] }]`,
    says: ["routes[1].name", "\"a\"", "routes[0]", "unique"]
  },
  {
    name: "two routes on one listen address",
    text:
      `routes: [{ name: a, listen: "127.0.0.1:8000", destinations: ["x:1"] }, { name: b, listen: 8000, destinations: ["x:1"] }]`,
    says: ["routes[1].listen", "routes[0]"]
  },
  {
    name: "the metrics on a route's address",
    text: `metrics: 8000\nroutes: [{ name: a, listen: 8000, destinations: ["x:1"] }]`,
    says: ["metrics", "routes[0]"]
  },
  {
    name: "a route without destinations",
    text: `routes: [{ name: a, listen: 1, destinations: [] }]`,
    says: ["routes[0].destinations", "no destinations"]
  },
  { name: "no routes", text: `routes: []`, says: ["routes", "no routes"] },
  { name: "an empty file", text: ``, says: ["empty"] },
  { name: "not YAML", text: `routes: [{ name: a`, says: ["not valid YAML", "line"] },
  { name: "a duplicate key", text: `routes: []\nroutes: []`, says: ["not valid YAML", "unique"] },
  { name: "not JSON", text: `{ "routes": [ }`, file: "proxy.json", says: ["not valid JSON"] },
  { name: "another extension", text: `routes: []`, file: "proxy.toml", says: [".yaml, .yml or .json"] }
]

describe("config file: one line naming the file, the key and what is wrong", () => {
  for (const { file: name, name: title, says, text } of bad) {
    it.scoped(title, () =>
      Effect.gen(function*() {
        const { file, message } = yield* rejection(text, name)
        expect(message.split("\n")).toHaveLength(1)
        expect(message.startsWith(`${file}: `), message).toBe(true)
        for (const words of says) expect(message).toContain(words)
      }))
  }

  it.scoped("a file that is not there", () =>
    Effect.gen(function*() {
      const missing = path.join(os.tmpdir(), "socket-proxy-no-such-dir", "proxy.yaml")
      const error = yield* loadConfigFile(missing, {}).pipe(Effect.flip, Effect.provide(NodeFileSystem.layer))
      expect(error.message).toBe(`${missing}: cannot read it: no such file`)
    }))
})

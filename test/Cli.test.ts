/**
 * The CLI as a service runs it (`node --import tsx src/main.ts ...`), in real child processes:
 * configuration errors, the env contract, start-up with a bad destination,
 * graceful shutdown on SIGTERM/SIGINT, and smoke tests of the fakes and the demo.
 * Every port is ephemeral; readiness is the `listening on HOST:PORT` log line.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import type { CliExit } from "./support/Cli.js"
import { listeningLine, listeningPort, nonEmptyLines, runCli, spawnCli, stripAnsi } from "./support/Cli.js"
import { destination, freePort, loopback, pattern, source } from "./support/Peers.js"

const stackTraceLine = /^\s+at /

const transcript = (exit: CliExit): string =>
  `exit code ${exit.code}, signal ${exit.signal}, after ${Duration.format(exit.elapsed)}\n` +
  `--- stdout ---\n${exit.stdout}\n--- stderr ---\n${exit.stderr}`

/**
 * A configuration error: a non-zero exit within 10 s, one non-empty line on
 * stderr that mentions each of `mentions`, and no stack trace anywhere.
 */
const expectConfigError = (exit: CliExit, mentions: ReadonlyArray<string>): void => {
  const context = transcript(exit)
  expect(exit.signal, context).toBeNull()
  expect(exit.code, context).toBeGreaterThan(0)
  expect(Duration.toMillis(exit.elapsed), context).toBeLessThan(10_000)
  const lines = nonEmptyLines(exit.stderr)
  expect(lines, context).toHaveLength(1)
  for (const mention of mentions) expect(lines[0], context).toContain(mention)
  const traces = stripAnsi(`${exit.stdout}\n${exit.stderr}`).split(/\r?\n/).filter((line) => stackTraceLine.test(line))
  expect(traces, context).toEqual([])
}

const listenAnywhere = ["--listen", `${loopback}:0`] as const
/** A valid destination for cases where another setting is the bad one; nothing ever connects to it. */
const someDestination = ["--dest", `${loopback}:9`] as const

interface BadConfig {
  readonly name: string
  readonly args: ReadonlyArray<string>
  readonly env?: Readonly<Record<string, string>>
  /** What the one stderr line must contain: the bad value or the missing setting's name. */
  readonly mentions: ReadonlyArray<string>
}

const badConfigs: ReadonlyArray<BadConfig> = [
  { name: "no destinations at all", args: ["proxy", ...listenAnywhere], mentions: ["destinations", "--dest"] },
  { name: "no listen port", args: ["proxy", ...someDestination], mentions: ["listen", "--listen"] },
  { name: "--listen 99999", args: ["proxy", "--listen", "99999", ...someDestination], mentions: ["--listen", "99999"] },
  { name: "--listen abc", args: ["proxy", "--listen", "abc", ...someDestination], mentions: ["--listen", "\"abc\""] },
  { name: "--dest nocolon", args: ["proxy", ...listenAnywhere, "--dest", "nocolon"], mentions: ["--dest", "nocolon"] },
  {
    name: "--dest with one bad item in a list",
    args: ["proxy", ...listenAnywhere, "--dest", "127.0.0.1:8080, bad:port"],
    mentions: ["--dest", "bad:port"]
  },
  {
    name: "--dest with port 0",
    args: ["proxy", ...listenAnywhere, "--dest", "127.0.0.1:0"],
    mentions: ["--dest", "127.0.0.1:0"]
  },
  {
    name: "SOCKET_PROXY_DESTINATIONS=garbage",
    args: ["proxy", ...listenAnywhere],
    env: { SOCKET_PROXY_DESTINATIONS: "garbage" },
    mentions: ["SOCKET_PROXY_DESTINATIONS", "garbage"]
  },
  {
    name: "--buffer lots",
    args: ["proxy", ...listenAnywhere, ...someDestination, "--buffer", "lots"],
    mentions: ["--buffer", "lots"]
  },
  {
    name: "--connect-timeout without a unit",
    args: ["proxy", ...listenAnywhere, ...someDestination, "--connect-timeout", "5"],
    mentions: ["--connect-timeout", "\"5\""]
  },
  {
    name: "--metrics with a bad address",
    args: ["proxy", ...listenAnywhere, ...someDestination, "--metrics", "localhost:http"],
    mentions: ["--metrics", "localhost:http"]
  },
  {
    name: "SOCKET_PROXY_METRICS out of range",
    args: ["proxy", ...listenAnywhere, ...someDestination],
    env: { SOCKET_PROXY_METRICS: "70000" },
    mentions: ["SOCKET_PROXY_METRICS", "70000"]
  },
  {
    name: "--log-format xml",
    args: ["proxy", ...listenAnywhere, ...someDestination, "--log-format", "xml"],
    mentions: ["--log-format", "\"xml\"", "logfmt, json, pretty"]
  },
  {
    name: "SOCKET_PROXY_LOG_FORMAT=xml",
    args: ["proxy", ...listenAnywhere, ...someDestination],
    env: { SOCKET_PROXY_LOG_FORMAT: "xml" },
    mentions: ["SOCKET_PROXY_LOG_FORMAT", "xml"]
  },
  {
    name: "--allow with a bad block",
    args: ["proxy", ...listenAnywhere, ...someDestination, "--allow", "10.0.0.0/33"],
    mentions: ["--allow", "10.0.0.0/33"]
  },
  {
    name: "SOCKET_PROXY_MAX_CONNECTIONS=0",
    args: ["proxy", ...listenAnywhere, ...someDestination],
    env: { SOCKET_PROXY_MAX_CONNECTIONS: "0" },
    mentions: ["SOCKET_PROXY_MAX_CONNECTIONS", "\"0\""]
  },
  {
    name: "--drain-timeout without a unit",
    args: ["proxy", ...listenAnywhere, ...someDestination, "--drain-timeout", "5"],
    mentions: ["--drain-timeout", "\"5\""]
  },
  {
    name: "an unknown flag",
    args: ["proxy", ...listenAnywhere, ...someDestination, "--no-such-flag"],
    mentions: ["--no-such-flag"]
  }
]

describe("cli: bad configuration exits non-zero with one line on stderr", () => {
  for (const bad of badConfigs) {
    it.scopedLive(bad.name, () =>
      Effect.gen(function*() {
        const exit = yield* runCli(bad.args, bad.env === undefined ? {} : { env: bad.env }, Duration.seconds(10))
        expectConfigError(exit, bad.mentions)
      }))
  }

  it.scopedLive("the listen port already in use", () =>
    Effect.gen(function*() {
      // Any server holding a loopback port will do; the proxy must not take it over.
      const taken = yield* destination()
      const address = `${loopback}:${taken.port}`
      const exit = yield* runCli(["proxy", "--listen", address, ...someDestination])
      expectConfigError(exit, [address, "address already in use"])
      expect(exit.code, transcript(exit)).toBe(1)
      expect(taken.connections).toHaveLength(0)
    }))
})

describe("cli: proxy --help", () => {
  it.scopedLive("lists every operations flag with its environment variable", () =>
    Effect.gen(function*() {
      const exit = yield* runCli(["proxy", "--help"])
      const help = stripAnsi(exit.stdout)
      for (
        const text of [
          "--metrics",
          "SOCKET_PROXY_METRICS",
          "--log-format",
          "SOCKET_PROXY_LOG_FORMAT",
          "--max-connections",
          "SOCKET_PROXY_MAX_CONNECTIONS",
          "--allow",
          "SOCKET_PROXY_ALLOW",
          "--drain-timeout",
          "SOCKET_PROXY_DRAIN_TIMEOUT"
        ]
      ) expect(help, transcript(exit)).toContain(text)
    }))
})

describe("cli: the metrics address", () => {
  it.scopedLive("already in use: exit 1, one line naming it", () =>
    Effect.gen(function*() {
      const taken = yield* destination()
      const address = `${loopback}:${taken.port}`
      const exit = yield* runCli(["proxy", ...listenAnywhere, ...someDestination, "--metrics", address])
      expectConfigError(exit, [address, "metrics", "address already in use"])
      expect(exit.code, transcript(exit)).toBe(1)
    }))
})

describe("cli: limits from the environment", () => {
  it.scopedLive("SOCKET_PROXY_ALLOW refuses a source outside it, and logs the refusal with its address", () =>
    Effect.gen(function*() {
      const d = yield* destination()
      const proxy = yield* spawnCli(["proxy", ...listenAnywhere, "--dest", `${loopback}:${d.port}`], {
        env: { SOCKET_PROXY_ALLOW: "10.0.0.0/8" }
      })
      const port = yield* listeningPort(proxy)
      const s = yield* source(port)
      const peer = `${loopback}:${s.socket.localPort}`
      yield* s.until(() => s.isClosed())
      const line = yield* proxy.waitForLine(/refused a connection \(source not in --allow\)/)
      expect(line.input).toContain(`peer=${peer}`)
      expect(d.connections).toHaveLength(0)
    }))
})

describe("cli: env contract", () => {
  it.scopedLive("runs from SOCKET_PROXY_LISTEN_PORT and SOCKET_PROXY_DESTINATIONS alone", () =>
    Effect.gen(function*() {
      const d1 = yield* destination()
      const d2 = yield* destination()
      const proxy = yield* spawnCli(["proxy"], {
        env: {
          SOCKET_PROXY_LISTEN_PORT: `${loopback}:0`,
          SOCKET_PROXY_DESTINATIONS: `${loopback}:${d1.port}, ${loopback}:${d2.port}`
        }
      })
      const port = yield* listeningPort(proxy)
      const s = yield* source(port)
      const message = "configured from the environment"
      yield* s.write(message)
      for (const d of [d1, d2]) {
        yield* d.until(() => d.totalBytes() >= message.length)
        expect(d.connections).toHaveLength(1)
        expect(d.connections[0]!.data().toString()).toBe(message)
      }
      expect(proxy.exit()).toBeUndefined()
    }))

  it.scopedLive("the start-up line shows the effective settings: flags, then env, then defaults", () =>
    Effect.gen(function*() {
      const proxy = yield* spawnCli(["proxy", ...listenAnywhere, ...someDestination, "--write-timeout", "2s"], {
        env: { SOCKET_PROXY_BUFFER: "64KiB", SOCKET_PROXY_MAX_CONNECTIONS: "20" }
      })
      const line = yield* proxy.waitForLine(listeningLine)
      expect(line.input).toContain(
        `forwarding to ${loopback}:9 (connect-timeout 3s; write-timeout 2s; idle-timeout 30m; buffer 64 KiB per destination; ` +
          "max-connections 20; allow everyone; drain-timeout 5s; metrics off)"
      )
    }))

  it.scopedLive("flags win over the environment", () =>
    Effect.gen(function*() {
      const real = yield* destination()
      const nowhere = yield* freePort()
      const proxy = yield* spawnCli(["proxy", ...listenAnywhere, "--dest", `${loopback}:${real.port}`], {
        // Both would be fatal or wrong if read: the flags must shadow them.
        env: { SOCKET_PROXY_LISTEN_PORT: "not-a-port", SOCKET_PROXY_DESTINATIONS: `${loopback}:${nowhere}` }
      })
      const line = yield* proxy.waitForLine(listeningLine)
      expect(line.input).toContain(`forwarding to ${loopback}:${real.port}`)
      expect(line.input).not.toContain(`:${nowhere}`)
      const s = yield* source(Number(line[2]))
      yield* s.write("flags first")
      yield* real.until(() => real.totalBytes() >= 11)
      expect(real.connections[0]!.data().toString()).toBe("flags first")
    }))
})

describe("cli: start-up", () => {
  it.scopedLive("an unresolvable destination is not fatal: the others still get the data", () =>
    Effect.gen(function*() {
      const real = yield* destination()
      const proxy = yield* spawnCli([
        "proxy",
        ...listenAnywhere,
        "--dest",
        "nonexistent.invalid:9",
        "--dest",
        `${loopback}:${real.port}`
      ])
      const port = yield* listeningPort(proxy)
      const s = yield* source(port)
      const data = pattern(64 * 1024)
      yield* s.write(data)
      yield* real.until(() => real.totalBytes() >= data.length)
      expect(real.connections[0]!.data().equals(data)).toBe(true)
      // The failed lookup has happened and been reported, and the proxy is still up.
      yield* proxy.waitForLine(/destination nonexistent\.invalid:9 is down/)
      expect(proxy.exit(), proxy.stderr()).toBeUndefined()
      expect(nonEmptyLines(proxy.stderr())).toEqual([])
      // Bytes held for the dead destination must not keep the proxy from stopping.
      yield* proxy.kill("SIGTERM")
      const exit = yield* proxy.waitForExit(Duration.seconds(5))
      expect(exit.code, transcript(exit)).toBe(0)
    }))
})

describe("cli: graceful shutdown", () => {
  /**
   * Delivers `first`, then sends `last` and signals the proxy straight after:
   * everything must reach the destination, which then sees EOF, and the proxy
   * must exit 0 within 5 s.
   */
  const shutdownFlushes = (signal: NodeJS.Signals, first: Buffer, last: Buffer) =>
    Effect.gen(function*() {
      const d = yield* destination()
      const proxy = yield* spawnCli(["proxy", ...listenAnywhere, "--dest", `${loopback}:${d.port}`])
      const port = yield* listeningPort(proxy)
      const s = yield* source(port)
      yield* s.write(first)
      yield* d.until(() => d.totalBytes() >= first.length)
      yield* s.write(last)
      yield* proxy.kill(signal)
      const exit = yield* proxy.waitForExit(Duration.seconds(5))
      expect(exit.code, transcript(exit)).toBe(0)
      expect(exit.signal, transcript(exit)).toBeNull()
      expect(nonEmptyLines(exit.stderr)).toEqual([])
      // The proxy is gone: whatever it sent has arrived by the time the destination sees the close.
      yield* d.until(() => d.connections.every((c) => c.closed), Duration.seconds(5))
      expect(d.connections).toHaveLength(1)
      const received = d.connections[0]!
      expect(received.bytes).toBe(first.length + last.length)
      expect(received.data().equals(Buffer.concat([first, last]))).toBe(true)
      expect(received.ended, "the destination saw EOF (FIN), not a reset").toBe(true)
    })

  // `last` stays below the proxy's 256 KiB read high-water mark, so the proxy reads it
  // as soon as it arrives: what is under test is that bytes it has read get flushed.
  it.scopedLive("SIGTERM: flushes what it received, closes the destination, exits 0", () =>
    shutdownFlushes("SIGTERM", pattern(1024 * 1024, 1), pattern(64 * 1024, 2)))

  it.scopedLive("SIGINT: the same", () => shutdownFlushes("SIGINT", pattern(16 * 1024, 3), pattern(16 * 1024, 4)))
})

describe("cli: fakes and demo", () => {
  it.scopedLive("fake-source talks to fake-destination", () =>
    Effect.gen(function*() {
      const fakeDestination = yield* spawnCli(["fake-destination", "--port", "0", "--host", loopback])
      const port = yield* listeningPort(fakeDestination)
      const fakeSource = yield* spawnCli(["fake-source", "--port", String(port), "--interval", "100ms"])
      yield* fakeSource.waitForLine(/sent \d+ B/)
      const receipt = yield* fakeDestination.waitForLine(/#1 \+(\d+) B \(total (\d+) B\)/)
      expect(Number(receipt[1])).toBeGreaterThan(0)
      expect(Number(receipt[2])).toBeGreaterThan(0)
      for (const fake of [fakeSource, fakeDestination]) {
        yield* fake.kill("SIGINT")
        const exit = yield* fake.waitForExit(Duration.seconds(5))
        expect(exit.code, transcript(exit)).toBe(0)
      }
    }))

  it.scopedLive("demo prints its table and exits 0 on SIGINT", () =>
    Effect.gen(function*() {
      const demo = yield* spawnCli(["demo"])
      // Bytes reach both fake destinations (a table of zeros would pass the line's shape alone).
      const totals = yield* demo.waitForLine(/destinations received\s+[1-9]\d*(?:\.\d+)? \w+\s+[1-9]\d*(?:\.\d+)? \w+/)
      expect(totals[0]).toContain("destinations received")
      yield* demo.kill("SIGINT")
      const exit = yield* demo.waitForExit(Duration.seconds(5))
      expect(exit.code, transcript(exit)).toBe(0)
      expect(nonEmptyLines(exit.stderr)).toEqual([])
    }))
})

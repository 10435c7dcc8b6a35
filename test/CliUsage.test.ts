/**
 * The command line as a new user finds it, in real processes: `--help` of every
 * command comes from the settings table (plain text, no library boilerplate), and
 * every rejection, whoever detects it, is one line on stderr, prefixed
 * `socket-proxy:`, naming the flag and the value, with exit code 2.
 */
import { describe, expect, it } from "@effect/vitest"
import { vi } from "vitest"
import { Duration, Effect } from "effect"
import { settings } from "../src/Proxy/Settings/Settings.js"
import type { CliExit } from "./support/Cli.js"
import { nonEmptyLines, runCli as runCliWithin } from "./support/Cli.js"
import { freePort, loopback } from "./support/Peers.js"

// Each test starts real processes; on a loaded 2-core machine that takes seconds per process.
vi.setConfig({ testTimeout: 60_000 })

const transcript = (exit: CliExit): string =>
  `exit code ${exit.code}, signal ${exit.signal}\n--- stdout ---\n${exit.stdout}\n--- stderr ---\n${exit.stderr}`

const ansi = new RegExp(`${String.fromCharCode(27)}\\[`)

/** Starting tsx takes seconds on a loaded machine: a rejection must come, but may come late. */
const runCli = (args: ReadonlyArray<string>, options: { readonly env?: Readonly<Record<string, string>> } = {}) =>
  runCliWithin(args, options, Duration.seconds(40))

const expectRejection = (exit: CliExit, mentions: ReadonlyArray<string>): void => {
  const context = transcript(exit)
  expect(exit.code, context).toBe(2)
  const lines = nonEmptyLines(exit.stderr)
  expect(lines, context).toHaveLength(1)
  expect(lines[0], context).toMatch(/^socket-proxy: /)
  expect(exit.stderr, context).not.toMatch(ansi)
  for (const mention of mentions) expect(lines[0], context).toContain(mention)
}

const proxyArgs = ["proxy", "--listen", `${loopback}:0`, "--dest", `${loopback}:9`] as const

const rejections: ReadonlyArray<
  { name: string; args: ReadonlyArray<string>; env?: Record<string, string>; mentions: ReadonlyArray<string> }
> = [
  {
    name: "--listen twice",
    args: ["proxy", "--listen", "1", "--listen", "2", "--dest", "a:1"],
    mentions: ["--listen", "\"1\"", "\"2\"", "once"]
  },
  {
    name: "fake-source --port abc",
    args: ["fake-source", "--port", "abc"],
    mentions: ["--port", "\"abc\"", "port number"]
  },
  { name: "an unknown argument", args: [...proxyArgs, "--no-such-flag"], mentions: ["--no-such-flag", "--help"] },
  { name: "--wizard", args: [...proxyArgs, "--wizard"], mentions: ["--wizard"] },
  { name: "--completions", args: ["proxy", "--completions", "bash"], mentions: ["--completions"] },
  {
    name: "a flag without its value",
    args: ["proxy", "--dest", "a:1", "--listen"],
    mentions: ["--listen", "PORT|HOST:PORT"]
  },
  { name: "an unknown command", args: ["prxy"], mentions: ["\"prxy\"", "proxy"] },
  {
    name: "--listen abc names the bare PORT form",
    args: ["proxy", "--listen", "abc", "--dest", "a:1"],
    mentions: ["--listen", "\"abc\"", "PORT", "8000"]
  },
  {
    name: "--log-level loud",
    args: [...proxyArgs, "--log-level", "loud"],
    mentions: ["--log-level", "\"loud\"", "warn"]
  },
  {
    name: "SOCKET_PROXY_LOG_LEVEL=loud",
    args: [...proxyArgs],
    env: { SOCKET_PROXY_LOG_LEVEL: "loud" },
    mentions: ["SOCKET_PROXY_LOG_LEVEL", "\"loud\""]
  },
  {
    name: "a duration in words",
    args: [...proxyArgs, "--idle-timeout", "5 seconds"],
    mentions: ["--idle-timeout", "\"5 seconds\"", "ms, s, m, h, d"]
  },
  {
    name: "a duration with an upper-case unit",
    args: [...proxyArgs, "--write-timeout", "5S"],
    mentions: ["--write-timeout", "\"5S\""]
  },
  {
    name: "a size in lower case",
    args: [...proxyArgs, "--buffer", "1mib"],
    mentions: ["--buffer", "\"1mib\"", "KiB, MiB"]
  },
  { name: "a size with a one-letter unit", args: [...proxyArgs, "--buffer", "1M"], mentions: ["--buffer", "\"1M\""] },
  { name: "--check without --config", args: ["proxy", "--check"], mentions: ["--check", "--config"] }
]

describe("cli usage: every rejection is one line naming the flag and the value, exit 2", () => {
  for (const rejection of rejections) {
    it.scopedLive(
      rejection.name,
      () =>
        Effect.map(
          runCli(rejection.args, rejection.env === undefined ? {} : { env: rejection.env }),
          (exit) => expectRejection(exit, rejection.mentions)
        )
    )
  }

  it.scopedLive("--metrics on the --listen port names the clash", () =>
    Effect.gen(function*() {
      // Refused before anything is bound; a port that is free, should the check ever fail.
      const port = yield* freePort()
      const exit = yield* runCli([
        "proxy",
        "--listen",
        String(port),
        "--dest",
        "a:1",
        "--metrics",
        `${loopback}:${port}`
      ])
      expectRejection(exit, ["--metrics", `${loopback}:${port}`, "--listen"])
    }))

  // The level is read before anything else, so the next setting's error shows it was accepted.
  for (const level of ["warn", "WARN", "Warning"]) {
    it.scopedLive(`--log-level ${level} is accepted`, () =>
      Effect.map(
        runCli([...proxyArgs, "--log-level", level, "--buffer", "0"]),
        (exit) => expectRejection(exit, ["--buffer", "\"0\""])
      ))
  }
})

describe("cli usage: help", () => {
  it.scopedLive("proxy --help: every setting of the table with its env variable and default, nothing else", () =>
    Effect.gen(function*() {
      for (const env of [{}, { NO_COLOR: "1" }]) {
        const exit = yield* runCli(["proxy", "--help"], { env })
        const help = exit.stdout
        const context = transcript(exit)
        expect(exit.code, context).toBe(0)
        expect(help, context).not.toMatch(ansi)
        expect(help, context).toContain("socket-proxy proxy --listen PORT|HOST:PORT --dest HOST:PORT")
        expect(help, context).toContain("socket-proxy proxy --config FILE [--check]")
        for (
          const text of [
            "A user-defined piece of text",
            "This setting is optional",
            "zero or more",
            "--wizard",
            "--completions",
            "fatal",
            "$ proxy"
          ]
        ) {
          expect(help, context).not.toContain(text)
        }
        expect(help.match(/^ {2}--log-level /gm), context).toHaveLength(1)
        for (const setting of Object.values(settings)) {
          if (setting.flag === undefined) continue
          // A switch stands alone on its line; a setting with a value shows what the value looks like.
          if (setting.isSwitch) expect(help, context).toMatch(new RegExp(`^ {2}--${setting.flag}$`, "m"))
          else expect(help, context).toContain(`--${setting.flag} ${setting.metavar}`)
          if (setting.env !== undefined) expect(help, context).toContain(setting.env)
        }
        expect(help, context).toContain("Default: 3s.")
        expect(help, context).toContain("Default: 1MiB.")
        expect(help, context).toContain("Default: required without --config.")
        expect(help, context).toContain("ms, s, m, h, d")
      }
    }))

  it.scopedLive("socket-proxy --help: the commands, without padding", () =>
    Effect.gen(function*() {
      const exit = yield* runCli(["--help"])
      expect(exit.code, transcript(exit)).toBe(0)
      expect(exit.stdout).not.toMatch(ansi)
      for (const command of ["proxy", "fake-source", "fake-destination", "demo"])
        expect(exit.stdout).toContain(`  ${command} `)
      for (const line of exit.stdout.split("\n"))
        expect(line.length, line).toBeLessThanOrEqual(110)
      // No padding: at most the alignment of the summaries (about 20 columns), never a run of 40 spaces.
      expect(exit.stdout).not.toMatch(/ {40}/)
    }))

  it.scopedLive("the fakes' help shows their defaults and the real interval", () =>
    Effect.gen(function*() {
      const source = yield* runCli(["fake-source", "--help"])
      expect(source.code, transcript(source)).toBe(0)
      expect(source.stdout).not.toContain("every second")
      expect(source.stdout).toContain("every --interval")
      for (
        const text of [
          "--port PORT",
          "Default: 8000.",
          "--interval DURATION",
          "Default: 1s.",
          "--size N",
          "Default: 16."
        ]
      ) {
        expect(source.stdout, transcript(source)).toContain(text)
      }
      const destination = yield* runCli(["fake-destination", "-h"])
      expect(destination.stdout, transcript(destination)).toContain("Default: 8080.")
      expect(destination.stdout).not.toMatch(ansi)
    }))
})

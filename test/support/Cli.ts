/**
 * The CLI as a real child process, spawned the way a service runs it:
 * `node --import tsx src/main.ts ARGS...` from the repository root.
 *
 * Why not the `tsx` binary: it runs the program in a second `node` process and
 * relays SIGINT/SIGTERM to it, but if the child does not confirm within ~30 ms
 * that it handles the signal, tsx SIGKILLs it and exits 130. On a loaded machine
 * that confirmation comes late, and the proxy is killed without draining. With
 * `--import tsx` there is one process and the signal reaches the proxy itself.
 * The child still gets its own process group, so the finalizer can kill
 * anything it started.
 *
 * Every wait is event-driven: a stdout/stderr `data` or a `close` event
 * re-checks what a waiter is waiting for; nothing polls.
 */
import { Duration, Effect } from "effect"
import type { Scope } from "effect"
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Condition } from "./Condition.js"

/** The repository root: this file is `test/support/Cli.ts`. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")

/** How the CLI is started from the repository root, before its arguments. */
const sourceProgram = [process.execPath, "--import", "tsx", "src/main.ts"]

const envPrefix = "SOCKET_PROXY_"

export interface CliExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /** From spawn to exit. */
  readonly elapsed: Duration.Duration
  readonly stdout: string
  readonly stderr: string
}

export interface CliProcess {
  readonly pid: number
  readonly args: ReadonlyArray<string>
  /** Everything written so far. */
  readonly stdout: () => string
  readonly stderr: () => string
  /** Set once the process has exited and its output streams are closed. */
  readonly exit: () => CliExit | undefined
  /**
   * Waits for a complete stdout line matching `pattern` (already printed or
   * still to come) and returns its match. Fails the test if the process exits
   * first or nothing matches within `within`.
   */
  readonly waitForLine: (pattern: RegExp, within?: Duration.DurationInput) => Effect.Effect<RegExpMatchArray>
  /** Waits for the process to exit; fails the test if it is still running after `within`. */
  readonly waitForExit: (within?: Duration.DurationInput) => Effect.Effect<CliExit>
  /** Sends `signal` to the CLI process, as a service manager would. */
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
}

export interface SpawnOptions {
  /** Added to the environment, after every inherited `SOCKET_PROXY_*` variable was removed. */
  readonly env?: Readonly<Record<string, string>>
  /** What runs before `args`, from the repository root; default `node --import tsx src/main.ts` (e.g. `node dist/socket-proxy.mjs`). */
  readonly program?: ReadonlyArray<string>
}

/** The test runner's environment without `SOCKET_PROXY_*`, plus the test's own variables. */
const childEnv = (extra: Readonly<Record<string, string>>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const name of Object.keys(env)) {
    if (name.startsWith(envPrefix)) delete env[name]
  }
  return { ...env, ...extra }
}

const ansiEscape = new RegExp(String.raw`\u001b\[[0-9;?]*[ -/]*[@-~]`, "g")

/** Removes ANSI color and cursor codes. */
export const stripAnsi = (text: string): string => text.replace(ansiEscape, "")

/** The non-empty lines of `text`, without ANSI codes. */
export const nonEmptyLines = (text: string): ReadonlyArray<string> =>
  stripAnsi(text).split(/\r?\n/).filter((line) => line.trim().length > 0)

const describeOutput = (process: { readonly stdout: string; readonly stderr: string }): string =>
  `\n--- stdout ---\n${process.stdout}\n--- stderr ---\n${process.stderr}`

/** Spawns `node --import tsx src/main.ts ...args` (or `options.program`); closing the scope SIGKILLs it (and its child) if still running. */
export const spawnCli = (
  args: ReadonlyArray<string>,
  options: SpawnOptions = {}
): Effect.Effect<CliProcess, never, Scope.Scope> =>
  Effect.gen(function*() {
    const changed = new Condition()
    const output = { stdout: "", stderr: "" }
    let exit: CliExit | undefined
    const startedAt = Date.now()
    const [command = process.execPath, ...programArgs] = options.program ?? sourceProgram
    const label = `${options.program === undefined ? "node --import tsx src/main.ts" : options.program.join(" ")} ${
      args.join(" ")
    }`

    const child = yield* Effect.acquireRelease(
      Effect.sync((): ChildProcess => {
        const child = spawn(command, [...programArgs, ...args], {
          cwd: repoRoot,
          env: childEnv(options.env ?? {}),
          stdio: ["ignore", "pipe", "pipe"],
          // Its own process group, so the finalizer can kill it and anything it started.
          detached: true
        })
        child.stdout?.setEncoding("utf8")
        child.stderr?.setEncoding("utf8")
        child.stdout?.on("data", (text: string) => {
          output.stdout += text
          changed.notify()
        })
        child.stderr?.on("data", (text: string) => {
          output.stderr += text
          changed.notify()
        })
        // 'close' comes after 'exit' and after both pipes closed: all output is in.
        // Every process of the group holds the pipes, so this also means none is left.
        child.on("close", (code, signal) => {
          exit = {
            code,
            signal,
            elapsed: Duration.millis(Date.now() - startedAt),
            stdout: output.stdout,
            stderr: output.stderr
          }
          changed.notify()
        })
        child.on("error", (error) => {
          output.stderr += `\n[spawn error] ${error.message}\n`
          exit ??= {
            code: null,
            signal: null,
            elapsed: Duration.millis(Date.now() - startedAt),
            stdout: output.stdout,
            stderr: output.stderr
          }
          changed.notify()
        })
        return child
      }),
      (child) =>
        exit !== undefined || child.pid === undefined
          ? Effect.void
          : Effect.sync(() => {
            try {
              process.kill(-child.pid!, "SIGKILL")
            } catch {
              // The group is gone already.
            }
          }).pipe(
            Effect.zipRight(changed.waitUntil(() => exit !== undefined)),
            Effect.timeoutOption(Duration.seconds(5)),
            Effect.asVoid
          )
    )
    if (child.pid === undefined) {
      return yield* Effect.die(new Error(`could not spawn ${label}${describeOutput(output)}`))
    }
    const pid = child.pid

    const timedOut = (what: string, within: Duration.DurationInput) => () =>
      new Error(`${label}: ${what} within ${Duration.format(Duration.decode(within))}${describeOutput(output)}`)

    const waitForLine = (pattern: RegExp, within: Duration.DurationInput = Duration.seconds(10)) => {
      let match: RegExpMatchArray | null = null
      const found = () => {
        // Only complete lines: a line is matched once, whole, never half-written.
        const complete = output.stdout.slice(0, output.stdout.lastIndexOf("\n") + 1)
        for (const line of complete.split("\n")) {
          match = stripAnsi(line).match(pattern)
          if (match !== null) return true
        }
        return false
      }
      return changed.waitUntil(() => found() || exit !== undefined).pipe(
        Effect.timeoutFail({ duration: within, onTimeout: timedOut(`no stdout line matched ${pattern}`, within) }),
        Effect.flatMap(() =>
          match !== null
            ? Effect.succeed<RegExpMatchArray>(match)
            : Effect.fail(
              new Error(
                `${label}: exited (code ${exit?.code}, signal ${exit?.signal}) before printing a line matching ${pattern}` +
                  describeOutput(output)
              )
            )
        ),
        Effect.orDie
      )
    }

    const waitForExit = (within: Duration.DurationInput = Duration.seconds(10)) =>
      changed.waitUntil(() => exit !== undefined).pipe(
        Effect.timeoutFail({ duration: within, onTimeout: timedOut("did not exit", within) }),
        Effect.orDie,
        Effect.map(() => exit!)
      )

    const kill = (signal: NodeJS.Signals) =>
      Effect.sync(() => {
        if (exit === undefined) child.kill(signal)
      })

    return {
      pid,
      args,
      stdout: () => output.stdout,
      stderr: () => output.stderr,
      exit: () => exit,
      waitForLine,
      waitForExit,
      kill
    }
  })

/** Runs the CLI to completion (it must exit by itself within `within`). */
export const runCli = (
  args: ReadonlyArray<string>,
  options: SpawnOptions = {},
  within: Duration.DurationInput = Duration.seconds(10)
): Effect.Effect<CliExit> => Effect.scoped(Effect.flatMap(spawnCli(args, options), (cli) => cli.waitForExit(within)))

/** Matches the proxy's (and the fake destination's) readiness line; group 1 is the host, 2 the port. */
export const listeningLine = /listening on (\S+):(\d+)/

/** Waits for the `listening on HOST:PORT` line and returns the port actually bound. */
export const listeningPort = (cli: CliProcess, within: Duration.DurationInput = Duration.seconds(10)) =>
  Effect.map(cli.waitForLine(listeningLine, within), (match) => Number(match[2]))

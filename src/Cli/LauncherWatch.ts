import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { readFileSync } from "node:fs"

/*
 * `npx tsx src/main.ts proxy ...` is three processes above the proxy: npx
 * (npm exec) runs `sh -c 'tsx' ...`, which runs tsx's CLI (a node process),
 * which runs the program in a second node process with tsx's preflight script
 * (`--require .../tsx/dist/preflight.cjs`). A signal sent to npx is forwarded by
 * npm to its shell only; dash dies of SIGTERM at once, npx exits 143, and tsx's
 * CLI and the proxy are left running, orphaned, still bound to the port. (With
 * the project's `.npmrc`, `script-shell=bash`, bash replaces itself with tsx and
 * the signal reaches tsx, which relays it to the proxy: the normal drain.)
 *
 * So under tsx's CLI the proxy watches the two processes above it: tsx's CLI
 * (its parent) and whatever started tsx (its grandparent). When either is gone,
 * the proxy shuts down as on SIGTERM: drain, then exit 0. Under `node` directly
 * (a service manager, `node --import tsx`, the one-file build) nothing is watched.
 */

/** How often the parent processes are looked at: a loop is noticed within this. */
export const launcherCheckInterval = Duration.millis(200)

/** True when this process is the program tsx's CLI runs (its preflight script is loaded). */
export const runByTsxCli = (execArgv: ReadonlyArray<string> = process.execArgv): boolean =>
  execArgv.some((arg) => /tsx[\\/]dist[\\/]preflight\.cjs$/.test(arg))

/** The parent of process `pid`, from `/proc` (Linux); undefined where it cannot be read. */
export const parentOf = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
    return Number.isInteger(ppid) ? ppid : undefined
  } catch {
    return undefined
  }
}

/**
 * Completes, with a sentence saying which, when the process that started this
 * one (tsx's CLI) or the one that started that (npx, a shell) is gone; never
 * completes when this process is not run by tsx's CLI.
 */
export const launcherGone: Effect.Effect<string> = Effect.suspend(() => {
  if (!runByTsxCli()) return Effect.never
  const parent = process.ppid
  const grandparent = parentOf(parent)
  const check = Effect.sync((): string | undefined => {
    if (process.ppid !== parent) return `tsx (pid ${parent}), which started the proxy, is gone`
    if (grandparent !== undefined && parentOf(parent) !== grandparent) {
      return `the process that started tsx (pid ${grandparent}, e.g. npx) is gone`
    }
    return undefined
  })
  const watch: Effect.Effect<string> = Effect.flatMap(
    check,
    (gone) => gone !== undefined ? Effect.succeed(gone) : Effect.zipRight(Effect.sleep(launcherCheckInterval), watch)
  )
  return watch
})

/**
 * Runs `program` (the proxy, until interrupted) and, under tsx's CLI, shuts it
 * down as on SIGTERM once its launcher is gone. It sends itself SIGTERM, so the
 * shutdown is exactly the signal's: `NodeRuntime.runMain` interrupts the main
 * fiber and waits for the drain. (Interrupting `program` from a race instead
 * would not be waited for: the process would exit in the middle of the drain.)
 */
export const untilLauncherGone = <A, E, R>(program: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  // Under `node` directly nothing is watched, and nothing runs besides `program`.
  !runByTsxCli() ? program : Effect.zipRight(
    Effect.fork(
      launcherGone.pipe(
        Effect.flatMap((gone) => Effect.logWarning(`${gone}: shutting down as on SIGTERM`)),
        Effect.zipRight(Effect.sync(() => process.kill(process.pid, "SIGTERM")))
      )
    ),
    program
  )

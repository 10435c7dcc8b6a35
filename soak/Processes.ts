/**
 * The soak's child processes: the proxy (`node --import tsx src/main.ts proxy`:
 * one process that receives signals itself, unlike the `tsx` wrapper, which
 * SIGKILLs a program that confirms a signal late) and the peer processes. Each
 * runs in its own process group, so a SIGKILL takes it whole; every line it
 * prints goes to a handler.
 */
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

export interface Child {
  readonly label: string
  /** The process spawned. */
  readonly pid: number
  readonly send: (message: unknown) => void
  /** Signals the whole process group; a no-op once it exited. */
  readonly signal: (signal: NodeJS.Signals) => void
  /** Signals the process spawned only, as a service manager would. */
  readonly signalLeader: (signal: NodeJS.Signals) => void
  readonly exit: () => { readonly code: number | null; readonly signal: NodeJS.Signals | null } | undefined
  /** The last lines of stderr, for failure messages. */
  readonly stderrTail: () => string
}

export interface ChildOptions {
  readonly label: string
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly env?: Readonly<Record<string, string>>
  readonly onLine: (line: string) => void
  readonly onExit: () => void
}

/** Without `SOCKET_PROXY_*`: every setting of the proxy under test is given as a flag. */
const cleanEnv = (extra: Readonly<Record<string, string>>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const name of Object.keys(env)) if (name.startsWith("SOCKET_PROXY_")) delete env[name]
  return { ...env, ...extra }
}

export const spawnChild = (options: ChildOptions): Effect.Effect<Child> =>
  Effect.sync(() => {
    const child = spawn(options.command, [...options.args], {
      cwd: repoRoot,
      env: cleanEnv(options.env ?? {}),
      stdio: ["pipe", "pipe", "pipe"],
      detached: true
    })
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined
    let stderr = ""
    let partial = ""
    child.stdout.setEncoding("utf8")
    child.stdout.on("data", (text: string) => {
      const lines = (partial + text).split("\n")
      partial = lines.pop() ?? ""
      for (const line of lines) if (line.length > 0) options.onLine(line)
    })
    child.stderr.setEncoding("utf8")
    child.stderr.on("data", (text: string) => {
      stderr = (stderr + text).slice(-4000)
    })
    child.stdin.on("error", () => {})
    child.on("error", (error) => {
      stderr += `\n[spawn error] ${error.message}`
    })
    child.on("close", (code, signal) => {
      exit = { code, signal }
      options.onExit()
    })
    const pid = child.pid ?? -1
    return {
      label: options.label,
      pid,
      send: (message) => {
        if (exit === undefined && child.stdin.writable) child.stdin.write(JSON.stringify(message) + "\n")
      },
      signal: (signal) => {
        if (exit !== undefined || pid < 0) return
        try {
          process.kill(-pid, signal)
        } catch {
          // Already gone.
        }
      },
      signalLeader: (signal) => {
        if (exit === undefined) child.kill(signal)
      },
      exit: () => exit,
      stderrTail: () => stderr
    }
  })

const nodeBin = process.execPath
/** The proxy's command line before its arguments, run from the repository root. */
const proxyProgram = ["--import", "tsx", "src/main.ts", "proxy"]

/** A peer (`soak/peers/NAME.ts`) run by node with the tsx loader: one process, its pid is the peer's. */
export const spawnPeer = (
  name: "source" | "destination",
  label: string,
  settings: unknown,
  onLine: (line: string) => void,
  onExit: () => void
): Effect.Effect<Child> =>
  spawnChild({
    label,
    command: nodeBin,
    args: ["--import", "tsx", path.join("soak", "peers", `${name}.ts`)],
    env: { SOAK_PEER: JSON.stringify(settings) },
    onLine,
    onExit
  })

/** `node --import tsx src/main.ts proxy ARGS...`. */
export const spawnProxy = (args: ReadonlyArray<string>, onLine: (line: string) => void, onExit: () => void) =>
  spawnChild({ label: "proxy", command: nodeBin, args: [...proxyProgram, ...args], onLine, onExit })

export interface ProxyFeatures {
  readonly metrics: boolean
  readonly jsonLogs: boolean
  /** `--config FILE`, reloaded on SIGHUP: the soak then runs it from a file and reloads it as a fault. */
  readonly config: boolean
}

/** What this proxy's `proxy --help` offers: the soak uses `--metrics` and `--log-format json` when they exist. */
export const proxyFeatures: Effect.Effect<ProxyFeatures> = Effect.async<ProxyFeatures>((resume) => {
  let help = ""
  const child = spawn(nodeBin, [...proxyProgram, "--help"], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] })
  child.stdout.setEncoding("utf8")
  child.stdout.on("data", (text: string) => {
    help += text
  })
  child.on(
    "close",
    () =>
      resume(Effect.succeed({
        metrics: help.includes("--metrics"),
        jsonLogs: help.includes("--log-format"),
        config: help.includes("--config")
      }))
  )
})

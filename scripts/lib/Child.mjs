// A child process for the CI scripts in scripts/: collects its output, waits on
// output and exit events (never polls), and is SIGKILLed by killAll() if a check
// leaves it running. Plain Node, no dependencies: these scripts check the bundle
// without the repository's node_modules.
import { spawn } from "node:child_process"

const running = new Set()

/** Spawns `command args` (as `uid`/`gid` if given); `deadline` (ms) bounds every wait on it. */
export const start = (command, args, { cwd, env, uid, gid, deadline = 15_000 } = {}) => {
  const label = [command, ...args].join(" ")
  const ids = uid === undefined ? {} : { uid, gid }
  const child = spawn(command, args, { cwd, env: env ?? process.env, stdio: ["ignore", "pipe", "pipe"], ...ids })
  const output = { stdout: "", stderr: "" }
  const waiters = new Set()
  let exit
  const changed = () => {
    for (const waiter of [...waiters]) waiter()
  }
  running.add(child)
  child.stdout.setEncoding("utf8")
  child.stderr.setEncoding("utf8")
  child.stdout.on("data", (text) => {
    output.stdout += text
    changed()
  })
  child.stderr.on("data", (text) => {
    output.stderr += text
    changed()
  })
  child.on("error", (error) => {
    output.stderr += `\n[spawn error] ${error.message}\n`
    exit ??= { code: null, signal: null }
    running.delete(child)
    changed()
  })
  // 'close': the process has exited and both pipes are drained.
  child.on("close", (code, signal) => {
    exit = { code, signal }
    running.delete(child)
    changed()
  })

  const transcript = () =>
    `${label}\n--- exit ---\n${JSON.stringify(exit ?? "still running")}\n` +
    `--- stdout ---\n${output.stdout}\n--- stderr ---\n${output.stderr}`

  /** Resolves with `check()`'s first non-undefined result, re-checked on every output or exit event. */
  const waitFor = (what, check) =>
    new Promise((resolve, reject) => {
      let timer
      const waiter = () => {
        let result
        try {
          result = check()
        } catch (error) {
          result = undefined
          waiters.delete(waiter)
          clearTimeout(timer)
          reject(error)
          return
        }
        if (result !== undefined) {
          waiters.delete(waiter)
          clearTimeout(timer)
          resolve(result)
        }
      }
      timer = setTimeout(() => {
        waiters.delete(waiter)
        reject(new Error(`${what}: nothing within ${deadline} ms\n${transcript()}`))
      }, deadline)
      waiters.add(waiter)
      waiter()
    })

  /** The first complete stdout line matching `pattern` (its match); fails if the process exits first. */
  const waitForLine = (pattern) =>
    waitFor(`a stdout line matching ${pattern}`, () => {
      const complete = output.stdout.slice(0, output.stdout.lastIndexOf("\n") + 1)
      for (const line of complete.split("\n")) {
        const match = line.match(pattern)
        if (match !== null) return match
      }
      if (exit !== undefined) throw new Error(`exited before printing a line matching ${pattern}\n${transcript()}`)
      return undefined
    })

  const waitForExit = () => waitFor("exit", () => (exit === undefined ? undefined : { ...exit, ...output }))

  const kill = (signal) => {
    if (exit === undefined) child.kill(signal)
  }

  return { label, output, transcript, waitForLine, waitForExit, kill }
}

/** Runs `command args` to its exit; resolves with `{ code, signal, stdout, stderr }`. */
export const run = (command, args, options) => start(command, args, options).waitForExit()

/** SIGKILLs every child still running (after a failed check). */
export const killAll = () => {
  for (const child of running) child.kill("SIGKILL")
}

// The two fan-outs under test, each started as its own process the way a user
// runs it: the proxy with `node --import tsx src/main.ts proxy ...` (TypeScript
// compiled on load; nothing differs at run time), the reference with plain node.
import { spawn } from "node:child_process"
import { createWriteStream } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")

/** Extra node flags for the proxy process only, e.g. BENCH_PROXY_NODE_FLAGS="--cpu-prof". */
const proxyNodeFlags = (process.env.BENCH_PROXY_NODE_FLAGS ?? "").split(" ").filter((flag) => flag !== "")

export const kinds = {
  proxy: (destinations, extra = []) => [
    ...proxyNodeFlags,
    // BENCH_PROXY_ENTRY=file.js runs a built bundle with plain node instead of the sources through tsx.
    ...(process.env.BENCH_PROXY_ENTRY ? [process.env.BENCH_PROXY_ENTRY] : ["--import", "tsx", "src/main.ts"]),
    "proxy",
    "--listen",
    "127.0.0.1:0",
    ...destinations.flatMap((port) => ["--dest", `127.0.0.1:${port}`]),
    ...extra
  ],
  reference: (destinations) => [
    "bench/reference.mjs",
    "--listen",
    "127.0.0.1:0",
    ...destinations.flatMap((port) => ["--dest", `127.0.0.1:${port}`])
  ]
}

/**
 * Starts `kind` ("proxy" or "reference") forwarding to `destinations` (ports on
 * 127.0.0.1); resolves once it listens, with its pid, port and a stop function.
 */
export const startServer = (kind, destinations, extra = []) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, kinds[kind](destinations, extra), {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    // BENCH_LOG=file keeps what the fan-out logs, for when a run looks wrong.
    const log = process.env.BENCH_LOG ? createWriteStream(process.env.BENCH_LOG, { flags: "a" }) : undefined
    let listening = false
    const exited = new Promise((done) => child.once("exit", (code, signal) => done({ code, signal })))
    const onData = (data) => {
      if (log !== undefined) log.write(data)
      if (listening) return
      output += data.toString()
      const match = /listening on \S*:(\d+)/.exec(output)
      if (match) {
        listening = true
        output = ""
        resolve({
          pid: child.pid,
          port: Number(match[1]),
          stop: async () => {
            child.kill("SIGTERM")
            const timer = setTimeout(() => child.kill("SIGKILL"), 10_000)
            await exited
            clearTimeout(timer)
          }
        })
      }
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", (data) => {
      if (!listening) output += data.toString()
    })
    exited.then(({ code, signal }) => {
      if (!listening) reject(new Error(`${kind} exited (${code ?? signal}) before listening:\n${output}`))
    })
  })

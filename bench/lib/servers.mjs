// The fan-outs under test, each started as its own process the way a user runs it:
// the proxy with `node --import tsx src/main.ts proxy ...` (TypeScript compiled on
// load), the proxy as deployed (`node <one-file build> proxy ...`, see bundle.mjs)
// and the reference with plain node. Each is the node process itself (spawned from
// this node binary, no shell or wrapper), so its pid's /proc counters are its own.
import { spawn } from "node:child_process"
import { createWriteStream } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { bundlePath } from "./bundle.mjs"
import { assertIsTheNodeProcess } from "./procstat.mjs"

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")

/** Extra node flags for the proxy process only, e.g. BENCH_PROXY_NODE_FLAGS="--cpu-prof". */
const proxyNodeFlags = (process.env.BENCH_PROXY_NODE_FLAGS ?? "").split(" ").filter((flag) => flag !== "")

/**
 * `tls` ({ caFile, certFile, keyFile }): TLS on both legs, the same flags for the
 * proxy and the reference: the listener with the server certificate, every
 * destination `tls://127.0.0.1:PORT` verified against the CA.
 */
const destinationArgs = (destinations, tls) => [
  ...destinations.flatMap((port) => ["--dest", `${tls === undefined ? "" : "tls://"}127.0.0.1:${port}`]),
  ...(tls === undefined ? [] : ["--tls-cert", tls.certFile, "--tls-key", tls.keyFile, "--dest-ca", tls.caFile])
]

const proxyArgs = (entry, destinations, extra, tls) => [
  ...proxyNodeFlags,
  ...entry,
  "proxy",
  "--listen",
  "127.0.0.1:0",
  ...destinationArgs(destinations, tls),
  ...extra
]

/** What the "proxy" kind runs: the sources through tsx, or BENCH_PROXY_ENTRY=file.js with plain node. */
export const proxyEntryLabel = process.env.BENCH_PROXY_ENTRY
  ? `node ${process.env.BENCH_PROXY_ENTRY} proxy (BENCH_PROXY_ENTRY)`
  : "node --import tsx src/main.ts proxy"

export const kinds = {
  proxy: (destinations, extra = [], tls = undefined) =>
    proxyArgs(
      process.env.BENCH_PROXY_ENTRY ? [process.env.BENCH_PROXY_ENTRY] : ["--import", "tsx", "src/main.ts"],
      destinations,
      extra,
      tls
    ),
  /** The proxy as deployed: the one-file build with plain node. */
  bundle: (destinations, extra = [], tls = undefined) => proxyArgs([bundlePath()], destinations, extra, tls),
  /** The reference takes no `extra` (the proxy's own flags), only TLS. */
  reference: (destinations, _extra = [], tls = undefined) => [
    "bench/reference.mjs",
    "--listen",
    "127.0.0.1:0",
    ...destinationArgs(destinations, tls)
  ]
}

/**
 * Starts `kind` ("proxy", "bundle" or "reference") forwarding to `destinations`
 * (ports on 127.0.0.1); resolves once it listens, with its pid, port and a stop
 * function. `nodeFlags` go before the entry (e.g. --expose-gc); `tls` (certificate
 * files, see destinationArgs) puts TLS on both legs.
 */
export const startServer = (kind, destinations, extra = [], { nodeFlags = [], tls = undefined } = {}) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, ...kinds[kind](destinations, extra, tls)], {
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
        try {
          // Its /proc counters (CPU, RSS, system calls) are read by pid: it must be the fan-out itself.
          assertIsTheNodeProcess(child.pid, Number(match[1]))
        } catch (error) {
          child.kill("SIGKILL")
          reject(error)
          return
        }
        resolve({
          pid: child.pid,
          port: Number(match[1]),
          /** Sends `signal` to the process (e.g. SIGUSR2 with --heapsnapshot-signal). */
          signal: (signal) => child.kill(signal),
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

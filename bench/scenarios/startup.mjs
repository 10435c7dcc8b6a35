// Start-up: how long from the command to the proxy listening (its "listening on"
// line), and to `--help` having printed and exited, for the command the README
// gives (`npx tsx src/main.ts ...`, "proxy" column) and for the one-file build
// (`node dist/socket-proxy.mjs ...`, "reference" column), built first from the
// current sources. Each run is a fresh process tree in its own process group,
// SIGKILLed as a group once measured; tsx's compile cache is warm after the first.
import { execFileSync, spawn } from "node:child_process"
import { repoRoot } from "../lib/servers.mjs"

const programs = {
  proxy: ["npx", "tsx", "src/main.ts"],
  reference: [process.execPath, "dist/socket-proxy.mjs"],
  // What the rest of the bench and the soak run: one process, tsx as a loader.
  tsxLoader: [process.execPath, "--import", "tsx", "src/main.ts"]
}

const commands = {
  listening: ["proxy", "--listen", "127.0.0.1:0", "--dest", "127.0.0.1:9"],
  help: ["--help"]
}

/** Builds dist/socket-proxy.mjs from the sources as they are, once per bench run. */
let built = false
export const buildOnce = () => {
  if (built) return
  execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: repoRoot, stdio: "ignore" })
  built = true
}

/** Seconds from spawn to the "listening on" line ("listening") or to the exit ("help"). */
export const startupRun = (kind, what) =>
  new Promise((resolve, reject) => {
    buildOnce()
    const [command, ...args] = programs[kind]
    const started = process.hrtime.bigint()
    const child = spawn(command, [...args, ...commands[what]], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true
    })
    let output = ""
    let seconds
    const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9
    child.stdout.on("data", (data) => {
      output += data.toString()
      if (what === "listening" && seconds === undefined && /listening on \S*:\d+/.test(output)) {
        seconds = elapsed()
        try {
          process.kill(-child.pid, "SIGKILL")
        } catch {
          // Gone already.
        }
      }
    })
    child.stderr.on("data", (data) => (output += data.toString()))
    child.once("exit", (code) => {
      if (what === "help") {
        if (code === 0) resolve({ seconds: elapsed() })
        else reject(new Error(`${programs[kind].join(" ")} --help exited ${code}:\n${output}`))
      }
    })
    // 'close': every process of the group has let go of the pipes.
    child.once("close", () => {
      if (what !== "listening") return
      if (seconds === undefined) reject(new Error(`${programs[kind].join(" ")} exited before listening:\n${output}`))
      else resolve({ seconds })
    })
  })

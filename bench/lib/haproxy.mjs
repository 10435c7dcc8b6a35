// HAProxy in front of one fan-out (bench "throughput through HAProxy"): mode tcp, one
// server, with `send-proxy-v2` when the fan-out reads the PROXY protocol (the proxy with
// --accept-proxy-protocol) and without it for the reference, which does not. No health
// check: it would open connections of its own to the fan-out. Ready once a second
// frontend of the same process accepts a connection (HAProxy binds all before it serves).
import { spawn } from "node:child_process"
import { findProgram } from "../../scripts/lib/FindProgram.mjs"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import * as net from "node:net"
import { tmpdir } from "node:os"
import * as path from "node:path"

/** `haproxy` on PATH, or where Debian's package puts it; undefined when it is not installed. */
export const findHaproxy = () => findProgram("haproxy")

const freePort = () =>
  new Promise((resolve) => {
    const server = net.createServer()
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })

const accepts = (port) =>
  new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

/** Starts HAProxy forwarding to 127.0.0.1:`serverPort`; resolves with its port and a stop function. */
export const startHaproxy = async (haproxy, serverPort, { sendProxyV2 }) => {
  const [port, readyPort] = [await freePort(), await freePort()]
  const dir = mkdtempSync(path.join(tmpdir(), "socket-proxy-bench-haproxy-"))
  const file = path.join(dir, "haproxy.cfg")
  writeFileSync(
    file,
    [
      "defaults",
      "    mode tcp",
      "    timeout connect 5s",
      "    timeout client 5m",
      "    timeout server 5m",
      "frontend feed",
      `    bind 127.0.0.1:${port}`,
      "    default_backend fanout",
      "frontend ready",
      `    bind 127.0.0.1:${readyPort}`,
      "    tcp-request connection reject",
      "backend fanout",
      `    server fanout 127.0.0.1:${serverPort}${sendProxyV2 ? " send-proxy-v2" : ""}`,
      ""
    ].join("\n")
  )
  const child = spawn(haproxy, ["-f", file, "-db"], { stdio: ["ignore", "ignore", "pipe"] })
  let stderr = ""
  child.stderr.setEncoding("utf8")
  child.stderr.on("data", (text) => (stderr += text))
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })))
  let gone
  exited.then((exit) => (gone = exit))
  const stop = async () => {
    if (gone === undefined) child.kill("SIGKILL")
    await exited
    rmSync(dir, { recursive: true, force: true })
  }
  // Polls (every 20 ms, for at most 10 s): HAProxy says nothing when it is ready.
  for (const deadline = Date.now() + 10_000; !(await accepts(readyPort));) {
    if (gone !== undefined || Date.now() > deadline) {
      await stop()
      throw new Error(`haproxy did not start (${JSON.stringify(gone ?? "still running")}):\n${stderr}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return { port, stop }
}

// What the deploy checks share: where things are, and
// small parsers for durations and addresses.
import { readFile } from "node:fs/promises"
import * as net from "node:net"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { run } from "../lib/Child.mjs"
import { expect, fail } from "../lib/Report.mjs"

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")
export const deployDir = path.join(repoRoot, "deploy")
export const bundle = path.join(repoRoot, "dist", "socket-proxy.mjs")
export const read = (relative) => readFile(path.join(repoRoot, relative), "utf8")

export const defaultDrainSeconds = 5

/** `5s`, `500ms`, `2m`, `30 sec`, `1 min`, or a bare number of seconds, in seconds. */
export const seconds = (text) => {
  const match = String(text).trim().match(/^(\d+(?:\.\d+)?)\s*(ms|s|sec|secs|m|min|mins)?$/)
  if (match === null) fail(`not a duration: ${JSON.stringify(text)}`)
  const value = Number(match[1])
  const unit = match[2] ?? "s"
  return unit === "ms" ? value / 1000 : unit.startsWith("m") ? value * 60 : value
}

/** The port of a `--listen`/`--metrics` style address: `9090`, `127.0.0.1:9090`, `[::]:9090`. */
export const portOf = (address) => Number(String(address).split(":").pop())

export const bundleHelp = async () => {
  const help = await run(process.execPath, [bundle, "proxy", "--help"])
  expect(help.code === 0, `${bundle} proxy --help failed (run npm run build first)\n${JSON.stringify(help)}`)
  return help.stdout
}

/** A port that was free a moment ago (for a listener whose port the test must know first). */
export const freePort = () =>
  new Promise((resolve) => {
    const server = net.createServer()
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })

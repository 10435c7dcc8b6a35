// CI smoke test of the one-file build (run after `npm run build`):
//  1. dist/socket-proxy.mjs, copied ALONE into an empty temp dir, run with plain `node`:
//     --version, a bad configuration (exit 2), and a real hello through `proxy` to a
//     `fake-destination` (both from the bundle), then SIGTERM: exit 0.
//  2. `npm pack`, then the tarball installed into an empty temp prefix with an empty
//     npm cache and --offline, so it fails if the package needs anything from a
//     registry; the installed `socket-proxy` command runs the same checks.
//  3. `npx --package <tarball> socket-proxy --version`, offline too.
import { copyFile, mkdir, mkdtemp, readFile, rm } from "node:fs/promises"
import * as net from "node:net"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { killAll, run, start } from "./lib/Child.mjs"
import { expect, ok, runChecks } from "./lib/Report.mjs"

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const bundle = path.join(repoRoot, "dist", "socket-proxy.mjs")
const { version } = JSON.parse(await readFile(path.join(repoRoot, "package.json"), "utf8"))

/** The environment without SOCKET_PROXY_* (a CI runner's own settings must not leak in) or NODE_PATH. */
const cleanEnv = (extra = {}) => {
  const env = { ...process.env }
  for (const name of Object.keys(env)) {
    if (name.startsWith("SOCKET_PROXY_") || name === "NODE_PATH") delete env[name]
  }
  return { ...env, ...extra }
}

const check = async (name, body) => {
  await body()
  ok(name)
}

/** Sends `text` as one source and closes it. */
const sendAndClose = (port, text) =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => socket.end(text))
    socket.on("error", reject)
    socket.on("close", resolve)
    socket.resume()
  })

/** The checks, for one way of starting the CLI: `command prefix...` + socket-proxy's own args. */
const checkCli = async (how, command, prefix, options) => {
  const cli = (args) => [command, [...prefix, ...args], options]

  await check(`${how}: --version prints ${version} (package.json)`, async () => {
    const exit = await run(...cli(["--version"]))
    expect(exit.code === 0 && exit.stdout.trim() === version, `expected ${version} and exit 0\n${JSON.stringify(exit)}`)
  })

  await check(`${how}: a bad configuration exits 2 with one line on stderr`, async () => {
    const exit = await run(...cli(["proxy", "--listen", "127.0.0.1:0"]))
    const lines = exit.stderr.split("\n").filter((line) => line.trim() !== "")
    expect(exit.code === 2, `expected exit 2\n${JSON.stringify(exit)}`)
    expect(lines.length === 1 && lines[0].includes("--dest"), `expected one stderr line naming --dest\n${exit.stderr}`)
  })

  await check(`${how}: hello through proxy to fake-destination, then SIGTERM exits 0`, async () => {
    const destination = start(...cli(["fake-destination", "--host", "127.0.0.1", "--port", "0"]))
    const [, , destinationPort] = await destination.waitForLine(/listening on (\S+):(\d+)/)
    const proxy = start(
      ...cli(["proxy", "--listen", "127.0.0.1:0", "--dest", `127.0.0.1:${destinationPort}`, "--log-level", "info"])
    )
    const [, , proxyPort] = await proxy.waitForLine(/listening on (\S+):(\d+)/)
    // Short enough for the fake destination to log it whole (it previews 24 bytes).
    const hello = `hello ${process.pid}`
    await sendAndClose(Number(proxyPort), hello)
    await destination.waitForLine(new RegExp(`closed by .* after ${hello.length} B`))
    expect(
      destination.output.stdout.includes(hello),
      `the destination did not log ${hello}\n${destination.transcript()}`
    )
    await proxy.waitForLine(/connection closed/)
    proxy.kill("SIGTERM")
    const proxyExit = await proxy.waitForExit()
    expect(proxyExit.code === 0, `proxy: expected exit 0 after SIGTERM\n${proxy.transcript()}`)
    destination.kill("SIGTERM")
    const destinationExit = await destination.waitForExit()
    expect(destinationExit.code === 0, `fake-destination: expected exit 0 after SIGTERM\n${destination.transcript()}`)
  })
}

const work = await mkdtemp(path.join(tmpdir(), "socket-proxy-smoke-"))
await runChecks("bundle-smoke", async () => {
  try {
    // 1. The bundle alone, in a directory with nothing else (no node_modules above /tmp either).
    const alone = path.join(work, "alone")
    await mkdir(alone)
    await copyFile(bundle, path.join(alone, "socket-proxy.mjs"))
    await checkCli("bundle alone", process.execPath, ["socket-proxy.mjs"], { cwd: alone, env: cleanEnv() })

    // 2. The packed tarball, installed globally into an empty prefix, offline, empty cache.
    const npmOptions = { cwd: repoRoot, env: cleanEnv(), deadline: 120_000 }
    const pack = await run("npm", ["pack", "--silent", "--pack-destination", work], npmOptions)
    expect(pack.code === 0, `npm pack failed\n${JSON.stringify(pack)}`)
    const tarball = path.join(work, pack.stdout.trim().split("\n").pop())
    const prefix = path.join(work, "prefix")
    const install = await run(
      "npm",
      [
        "install",
        "--global",
        "--offline",
        "--no-audit",
        "--no-fund",
        "--prefix",
        prefix,
        "--cache",
        path.join(work, "cache"),
        tarball
      ],
      npmOptions
    )
    expect(
      install.code === 0,
      `npm install -g of the tarball failed (does it need a dependency?)\n${JSON.stringify(install)}`
    )
    const installedEnv = cleanEnv({ PATH: `${path.join(prefix, "bin")}${path.delimiter}${process.env.PATH}` })
    await checkCli("installed tarball", "socket-proxy", [], { cwd: work, env: installedEnv })

    // 3. `npx` straight from the tarball (offline, its own empty cache): the command resolves and runs.
    await check(`npx --package <tarball> socket-proxy --version prints ${version}`, async () => {
      const npx = await run(
        "npx",
        [
          "--yes",
          "--offline",
          "--cache",
          path.join(work, "npx-cache"),
          "--package",
          tarball,
          "socket-proxy",
          "--version"
        ],
        { cwd: work, env: cleanEnv(), deadline: 120_000 }
      )
      expect(npx.code === 0 && npx.stdout.trim() === version, `expected ${version} and exit 0\n${JSON.stringify(npx)}`)
    })
  } finally {
    killAll()
    await rm(work, { recursive: true, force: true })
  }
})

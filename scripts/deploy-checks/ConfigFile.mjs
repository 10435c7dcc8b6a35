// The example configuration file: the built proxy's `--check` accepts it, and refuses a broken copy with one line.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { run } from "../lib/Child.mjs"
import { expect, ok } from "../lib/Report.mjs"
import { bundle, deployDir } from "./Common.mjs"

export const checkConfigFile = async () => {
  const example = path.join(deployDir, "config", "socket-proxy.yaml")
  const good = await run(process.execPath, [bundle, "proxy", "--config", example, "--check"])
  expect(good.code === 0, `proxy --config ${example} --check: exit ${good.code}\n${good.stdout}${good.stderr}`)
  const dir = await mkdtemp(path.join(tmpdir(), "socket-proxy-config-check-"))
  try {
    const broken = path.join(dir, "socket-proxy.yaml")
    await writeFile(broken, (await readFile(example, "utf8")).replace("buffer: 4MiB", "bufer: 4MiB"))
    const bad = await run(process.execPath, [bundle, "proxy", "--config", broken, "--check"])
    const lines = bad.stderr.split("\n").filter((line) => line.trim() !== "")
    expect(
      bad.code === 2 && lines.length === 1 && lines[0].includes("routes[0].destinations[2].bufer"),
      `--check of a broken copy: exit ${bad.code}\n${bad.stderr}`
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  ok("config: the example file passes --check; a broken copy is refused with one line naming the key")
}

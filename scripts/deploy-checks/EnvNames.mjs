// Every SOCKET_PROXY_* name in deploy/ and docs/deploy.md is one the built proxy knows.
import { readdir } from "node:fs/promises"
import * as path from "node:path"
import { expect, ok } from "../lib/Report.mjs"
import { bundleHelp, deployDir, read, repoRoot } from "./Common.mjs"

export const checkEnvNames = async () => {
  const help = await bundleHelp()
  const known = new Set(help.match(/SOCKET_PROXY_[A-Z_]+/g) ?? [])
  expect(known.has("SOCKET_PROXY_LISTEN_PORT"), `proxy --help names no SOCKET_PROXY_ variables?\n${help}`)
  const files = ["docs/deploy.md"]
  for (const dir of await readdir(deployDir, { recursive: true, withFileTypes: true })) {
    if (dir.isFile()) files.push(path.relative(repoRoot, path.join(dir.parentPath ?? dir.path, dir.name)))
  }
  for (const file of files) {
    const text = await read(file)
    for (const name of new Set(text.match(/SOCKET_PROXY_[A-Z_]*[A-Z]/g) ?? [])) {
      expect(known.has(name), `${file}: ${name} is not a setting of this proxy (not in proxy --help)`)
    }
  }
  ok(`env: every SOCKET_PROXY_* name in ${files.length} files is known to proxy --help`)
}

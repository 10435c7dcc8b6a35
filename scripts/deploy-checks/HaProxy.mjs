// HAProxy: deploy/haproxy/haproxy.cfg has what docs/deploy.md ("Scaling out") promises, and
// `haproxy -c` accepts it (and refuses a broken copy). Skipped, with a NOTICE, where haproxy
// is not installed (.ci/run installs it).
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { run } from "../lib/Child.mjs"
import { findProgram } from "../lib/FindProgram.mjs"
import { expect, notice, ok } from "../lib/Report.mjs"
import { deployDir } from "./Common.mjs"

/** `haproxy` on PATH, or where Debian's package puts it. */
const findHaproxy = () => findProgram("haproxy")

/** The lines of the file without comments, trimmed, by section (`backend replicas`, ...). */
const sections = (text) => {
  const result = {}
  let current
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim()
    if (line === "") continue
    if (/^(global|defaults|frontend|backend|listen)\b/.test(line)) {
      current = result[line] = []
      continue
    }
    expect(current !== undefined, `haproxy.cfg: a line outside a section: ${line}`)
    current.push(line.replace(/\s+/g, " "))
  }
  return result
}

export const checkHaproxy = async () => {
  const file = path.join(deployDir, "haproxy", "haproxy.cfg")
  const text = await readFile(file, "utf8")
  const parsed = sections(text)
  const backend = parsed["backend replicas"] ?? []
  const has = (lines, pattern) => lines.some((line) => pattern.test(line))
  expect(has(parsed.defaults ?? [], /^mode tcp$/), "haproxy.cfg: defaults must set mode tcp")
  expect(has(backend, /^option httpchk GET \/healthz$/), "haproxy.cfg: backend replicas: option httpchk GET /healthz")
  expect(has(backend, /^http-check expect status 200$/), "haproxy.cfg: backend replicas: http-check expect status 200")
  const defaults = backend.find((line) => line.startsWith("default-server ")) ?? ""
  const servers = backend.filter((line) => line.startsWith("server "))
  expect(servers.length >= 2, `haproxy.cfg: backend replicas needs several servers, has ${servers.length}`)
  for (const server of servers) {
    const settings = `${defaults} ${server}`
    expect(/\bsend-proxy-v2\b/.test(settings), `haproxy.cfg: ${server}: send-proxy-v2 expected`)
    expect(
      /\bon-marked-down shutdown-sessions\b/.test(settings),
      `haproxy.cfg: ${server}: on-marked-down shutdown-sessions`
    )
    expect(
      /\bcheck port \d+\b/.test(server),
      `haproxy.cfg: ${server}: check port METRICS_PORT expected (/healthz is there)`
    )
  }
  expect(
    text.includes("--accept-proxy-protocol"),
    "haproxy.cfg: the comments must say the replicas run with --accept-proxy-protocol"
  )
  ok(
    `haproxy: mode tcp, ${servers.length} servers with send-proxy-v2, /healthz checks on their metrics ports, on-marked-down shutdown-sessions`
  )

  const haproxy = findHaproxy()
  if (haproxy === undefined) {
    notice("haproxy is not installed: `haproxy -c -f deploy/haproxy/haproxy.cfg` skipped (.ci/run installs it)")
    return
  }
  const valid = await run(haproxy, ["-c", "-f", file])
  expect(
    valid.code === 0 && /Configuration file is valid/.test(`${valid.stdout}${valid.stderr}`),
    `haproxy -c -f deploy/haproxy/haproxy.cfg: exit ${valid.code}\n${valid.stdout}${valid.stderr}`
  )
  const dir = await mkdtemp(path.join(tmpdir(), "socket-proxy-haproxy-check-"))
  try {
    const broken = path.join(dir, "haproxy.cfg")
    await writeFile(broken, text.replace("on-marked-down shutdown-sessions", "on-marked-down shutdown-session"))
    const bad = await run(haproxy, ["-c", "-f", broken])
    expect(bad.code !== 0, `haproxy -c of a broken copy (shutdown-session) passed\n${bad.stdout}${bad.stderr}`)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  const version = (await run(haproxy, ["-v"])).stdout.split("\n")[0]
  ok(`haproxy: haproxy -c accepts deploy/haproxy/haproxy.cfg (${version}); a broken copy is refused`)
}

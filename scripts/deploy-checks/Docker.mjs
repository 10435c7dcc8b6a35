// Docker: the Dockerfile's structure; its ENTRYPOINT/CMD and HEALTHCHECK run against the bundle.
import { chmod, copyFile, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as http from "node:http"
import * as path from "node:path"
import { killAll, run, start } from "../lib/Child.mjs"
import { expect, fail, ok } from "../lib/Report.mjs"
import { bundle, bundleHelp, freePort, portOf, read } from "./Common.mjs"

/** Dockerfile instructions (continuation lines joined, comments dropped), split into stages. */
const parseDockerfile = (text) => {
  const instructions = []
  let pending = ""
  for (const raw of text.split("\n")) {
    if (raw.trim().startsWith("#") && pending === "") continue
    const line = raw.replace(/\s+$/, "")
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `
      continue
    }
    const whole = `${pending}${line}`.trim()
    pending = ""
    if (whole === "") continue
    const space = whole.search(/\s/)
    instructions.push({ keyword: whole.slice(0, space).toUpperCase(), rest: whole.slice(space + 1).trim() })
  }
  const stages = []
  for (const instruction of instructions) {
    if (instruction.keyword === "FROM") stages.push([])
    expect(stages.length > 0, `Dockerfile: ${instruction.keyword} before FROM`)
    stages[stages.length - 1].push(instruction)
  }
  return stages
}

/** An exec-form (JSON array) argument list; shell form is refused (signals would go to sh). */
const execForm = (what, text) => {
  let parsed
  try {
    parsed = JSON.parse(text)
  } catch {
    fail(`Dockerfile: ${what} must be exec form (a JSON array), is ${text}`)
  }
  expect(
    Array.isArray(parsed) && parsed.every((item) => typeof item === "string"),
    `Dockerfile: ${what} is not a JSON array of strings`
  )
  return parsed
}

/** `ENV A=1 B=2` (the key=value form). */
const envOf = (instructions) => {
  const env = {}
  for (const { rest } of instructions.filter(({ keyword }) => keyword === "ENV")) {
    for (const match of rest.matchAll(/([A-Z_][A-Z0-9_]*)=("[^"]*"|\S+)/g))
      env[match[1]] = match[2].replace(/^"|"$/g, "")
  }
  return env
}

/**
 * The HEALTHCHECK command against a stand-in /healthz (works before the proxy has --metrics):
 * it must ask /healthz, pass on 200, and fail on 503 (starting or draining).
 */
const checkHealthcheckAgainstStub = async (probe, options) => {
  let status = 200
  let asked = ""
  const server = http.createServer((request, response) => {
    asked = request.url ?? ""
    response.statusCode = request.url === "/healthz" ? status : 404
    response.end(status === 200 ? "ok" : "draining")
  })
  await new Promise((resolve) => server.listen({ host: "127.0.0.1", port: 0 }, resolve))
  try {
    const env = { ...process.env, ...options.env, SOCKET_PROXY_METRICS: `127.0.0.1:${server.address().port}` }
    const probeWith = () => run(probe[0], probe.slice(1), { ...options, env })
    const up = await probeWith()
    expect(
      up.code === 0 && asked === "/healthz",
      `HEALTHCHECK failed against a /healthz answering 200 (asked ${asked})\n${JSON.stringify(up)}`
    )
    status = 503
    const draining = await probeWith()
    expect(draining.code !== 0, "HEALTHCHECK passed against a /healthz answering 503")
  } finally {
    server.close()
  }
}

export const checkDocker = async () => {
  const stages = parseDockerfile(await read("deploy/docker/Dockerfile"))
  const final = stages[stages.length - 1]
  const one = (keyword) => {
    const found = final.filter((instruction) => instruction.keyword === keyword)
    expect(found.length === 1, `Dockerfile: the final stage needs exactly one ${keyword}, has ${found.length}`)
    return found[0].rest
  }
  const base = one("FROM")
  expect(/^node:20[\w.-]*-slim$/.test(base), `Dockerfile: the final image must be a slim Node 20 image, is ${base}`)
  const user = one("USER")
  expect(!/^(root|0)(:|$)/.test(user), `Dockerfile: USER must not be root, is ${user}`)
  const userIndex = final.findIndex(({ keyword }) => keyword === "USER")
  expect(
    final.slice(userIndex).every(({ keyword }) => keyword !== "RUN"),
    "Dockerfile: nothing may RUN after USER drops root in the final stage"
  )
  expect(
    final.every(({ keyword, rest }) => keyword !== "RUN" || !/npm (ci|install)/.test(rest)),
    "Dockerfile: the final stage must not install packages (the bundle has them)"
  )
  const copy = final.find(({ keyword, rest }) => keyword === "COPY" && rest.includes("dist/socket-proxy.mjs"))
  expect(copy !== undefined, "Dockerfile: the final stage must COPY dist/socket-proxy.mjs")
  const imagePath = copy.rest.split(/\s+/).pop()
  const entrypoint = execForm("ENTRYPOINT", one("ENTRYPOINT"))
  const cmd = execForm("CMD", one("CMD"))
  const command = [...entrypoint, ...cmd]
  expect(
    command[0] === "node" && command[1] === imagePath && command[2] === "proxy",
    `Dockerfile: must run node ${imagePath} proxy, runs ${command.join(" ")}`
  )
  const healthcheck = one("HEALTHCHECK").match(/^(.*?)\bCMD\s+(\[.*\])$/)
  expect(healthcheck !== null, "Dockerfile: HEALTHCHECK must be `HEALTHCHECK [options] CMD [...]`")
  const probe = execForm("HEALTHCHECK CMD", healthcheck[2])
  expect(
    probe[0] === "node" && probe.join(" ").includes("/healthz"),
    "Dockerfile: HEALTHCHECK must ask /healthz with node (slim images have no curl)"
  )
  const env = envOf(final)
  const exposed = one("EXPOSE").split(/\s+/).map(Number)
  for (const name of ["SOCKET_PROXY_LISTEN_PORT", "SOCKET_PROXY_METRICS"]) {
    expect(exposed.includes(portOf(env[name])), `Dockerfile: EXPOSE must include the port of ${name} (${env[name]})`)
  }
  const buildStage = stages[0].map(({ keyword, rest }) => `${keyword} ${rest}`).join("\n")
  expect(
    /RUN npm ci\b/.test(buildStage) && /RUN npm run build\b/.test(buildStage),
    "Dockerfile: the build stage must npm ci and npm run build"
  )
  ok(`Dockerfile: ${base}, USER ${user}, exec-form ${command.join(" ")}, node HEALTHCHECK, EXPOSE ${exposed.join(" ")}`)

  // Run the image's commands here: the bundle in a folder standing for the image's /app,
  // the Dockerfile's ENV with ports made ephemeral, as the image's user when we are root.
  const help = await bundleHelp()
  expect(
    help.includes("--metrics") && help.includes("--log-format"),
    "the bundle's proxy --help lacks --metrics or --log-format"
  )
  const jsonLogs = env.SOCKET_PROXY_LOG_FORMAT === "json"
  const work = await mkdtemp(path.join(tmpdir(), "socket-proxy-docker-"))
  try {
    await chmod(work, 0o755)
    const local = path.join(work, path.basename(imagePath))
    await copyFile(bundle, local)
    await chmod(local, 0o644)
    const [uid, gid] = user.split(":").map(Number)
    const asImageUser = process.getuid?.() === 0 && Number.isInteger(uid) ? { uid, gid: gid ?? uid } : {}
    const destination = start(process.execPath, [local, "fake-destination", "--host", "127.0.0.1", "--port", "0"], {
      cwd: work
    })
    const [, , destinationPort] = await destination.waitForLine(/listening on (\S+):(\d+)/)
    const metricsPort = await freePort()
    const runEnv = {
      ...process.env,
      ...env,
      SOCKET_PROXY_LISTEN_PORT: "127.0.0.1:0",
      SOCKET_PROXY_METRICS: `127.0.0.1:${metricsPort}`,
      SOCKET_PROXY_DESTINATIONS: `127.0.0.1:${destinationPort}`
    }
    const healthcheck = () => run(probe[0], probe.slice(1), { cwd: work, env: runEnv, ...asImageUser })
    await checkHealthcheckAgainstStub(probe, { cwd: work, env, ...asImageUser })
    const before = await healthcheck()
    expect(before.code !== 0, "HEALTHCHECK passed with no proxy running: it checks nothing")
    const proxy = start(process.execPath, [local, ...command.slice(2)], { cwd: work, env: runEnv, ...asImageUser })
    await proxy.waitForLine(/listening on (\S+):(\d+)/)
    // Docker runs the check every --interval until it passes; do the same, briefly.
    let healthy = await healthcheck()
    for (let attempt = 0; healthy.code !== 0 && attempt < 50; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      healthy = await healthcheck()
    }
    expect(
      healthy.code === 0,
      `HEALTHCHECK failed against the running proxy\n${JSON.stringify(healthy)}\n${proxy.transcript()}`
    )
    proxy.kill("SIGTERM")
    const exit = await proxy.waitForExit()
    expect(exit.code === 0, `the image's command did not exit 0 on SIGTERM\n${proxy.transcript()}`)
    destination.kill("SIGTERM")
    await destination.waitForExit()
    if (jsonLogs) {
      // The log collector reads one JSON object per line: nothing else may reach stdout.
      const lines = exit.stdout.split("\n").filter((line) => line.trim() !== "")
      for (const line of lines) {
        let parsed
        try {
          parsed = JSON.parse(line)
        } catch {
          fail(`with SOCKET_PROXY_LOG_FORMAT=json, a stdout line is not JSON: ${line}`)
        }
        expect(typeof parsed?.message === "string", `a JSON log line without "message": ${line}`)
      }
      expect(lines.length > 0, "no log lines at all")
    }
    const after = await healthcheck()
    expect(after.code !== 0, "HEALTHCHECK passed after the proxy exited: it checks nothing")
    const who = asImageUser.uid === undefined ? "this user" : `uid ${asImageUser.uid}`
    ok(
      `Dockerfile: its command runs the bundle with its ENV as ${who}, listens, exits 0 on SIGTERM` +
        (jsonLogs ? "; every log line is JSON" : "") +
        "; HEALTHCHECK passes on 200, fails on 503, and against the proxy fails before, passes while up, fails after"
    )
  } finally {
    killAll()
    await rm(work, { recursive: true, force: true })
  }
}

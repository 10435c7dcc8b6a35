// systemd: the unit's promised settings, `systemd-analyze verify` and `security` on a staged root.
import { chmod, copyFile, mkdir, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { run } from "../lib/Child.mjs"
import { expect, fail, ok } from "../lib/Report.mjs"
import { bundle, defaultDrainSeconds, deployDir, read, seconds } from "./Common.mjs"

/** `Key=value` lines of a unit file, by section; a key given twice keeps its last value. */
const parseUnit = (text) => {
  const sections = {}
  let current
  for (const raw of text.split("\n")) {
    const line = raw.trim()
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue
    const section = line.match(/^\[(.+)\]$/)
    if (section !== null) {
      current = sections[section[1]] ??= {}
      continue
    }
    const eq = line.indexOf("=")
    expect(current !== undefined && eq > 0, `unit: a line outside a section or without '=': ${line}`)
    current[line.slice(0, eq).trim()] = line.slice(eq + 1).trim()
  }
  return sections
}

/** `KEY=value` lines of an EnvironmentFile. */
const parseEnvFile = (text) =>
  Object.fromEntries(
    text
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "" && !line.startsWith("#"))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)])
  )

export const checkSystemd = async () => {
  const unitText = await read("deploy/systemd/socket-proxy.service")
  const unit = parseUnit(unitText)
  const service = unit.Service ?? fail("unit: no [Service] section")
  const required = {
    Restart: "on-failure",
    DynamicUser: "yes",
    NoNewPrivileges: "yes",
    ProtectSystem: "strict",
    ProtectHome: "yes",
    PrivateTmp: "yes",
    PrivateDevices: "yes",
    RestrictAddressFamilies: "AF_INET AF_INET6 AF_UNIX",
    CapabilityBoundingSet: "",
    EnvironmentFile: "/etc/socket-proxy/socket-proxy.env"
  }
  for (const [key, value] of Object.entries(required)) {
    expect(service[key] === value, `unit: expected ${key}=${value}, found ${key}=${service[key] ?? "(absent)"}`)
  }
  expect(
    service.ExecReload === "/bin/kill -HUP $MAINPID",
    `unit: expected ExecReload=/bin/kill -HUP $MAINPID (systemctl reload), found ${service.ExecReload ?? "(absent)"}`
  )
  const dropIn = parseUnit(await read("deploy/systemd/socket-proxy-config.conf")).Service ??
    fail("socket-proxy-config.conf: no [Service] section")
  expect(
    dropIn.ExecStart === "/usr/local/bin/socket-proxy proxy --config /etc/socket-proxy/socket-proxy.yaml",
    `socket-proxy-config.conf: ExecStart is ${dropIn.ExecStart}`
  )
  expect(
    Number(service.LimitNOFILE) >= 16384,
    `unit: LimitNOFILE must allow thousands of connections, is ${service.LimitNOFILE}`
  )
  expect(
    /^\/usr\/local\/bin\/socket-proxy proxy$/.test(service.ExecStart ?? ""),
    `unit: ExecStart is ${service.ExecStart}`
  )
  const env = parseEnvFile(await read("deploy/systemd/socket-proxy.env"))
  for (const name of ["SOCKET_PROXY_LISTEN_PORT", "SOCKET_PROXY_DESTINATIONS"]) {
    expect(env[name] !== undefined && env[name] !== "", `socket-proxy.env: ${name} must be set`)
  }
  const drain = seconds(env.SOCKET_PROXY_DRAIN_TIMEOUT ?? `${defaultDrainSeconds}s`)
  expect(
    seconds(service.TimeoutStopSec ?? "90s") > drain,
    `unit: TimeoutStopSec must exceed the drain timeout (${drain} s)`
  )
  ok("systemd: unit has the restart, user, hardening, limit and env settings; env file sets listen + destinations")

  // verify wants every unit the service pulls in and an executable ExecStart: stage a root with
  // this machine's system units, the unit, and the bundle where `npm install -g` puts the command.
  const root = await mkdtemp(path.join(tmpdir(), "socket-proxy-systemd-"))
  try {
    await mkdir(path.join(root, "usr/local/bin"), { recursive: true })
    await mkdir(path.join(root, "usr/lib/systemd"), { recursive: true })
    await mkdir(path.join(root, "etc/systemd/system"), { recursive: true })
    await mkdir(path.join(root, "etc/socket-proxy"), { recursive: true })
    const copied = await run("cp", ["-a", "/usr/lib/systemd/system", path.join(root, "usr/lib/systemd/")])
    expect(copied.code === 0, `could not copy the system units\n${copied.stderr}`)
    await copyFile(
      path.join(deployDir, "systemd/socket-proxy.service"),
      path.join(root, "etc/systemd/system/socket-proxy.service")
    )
    await copyFile(
      path.join(deployDir, "systemd/socket-proxy.env"),
      path.join(root, "etc/socket-proxy/socket-proxy.env")
    )
    await copyFile(bundle, path.join(root, "usr/local/bin/socket-proxy"))
    // ExecReload=/bin/kill -HUP $MAINPID: verify wants it executable in the root too.
    await mkdir(path.join(root, "bin"), { recursive: true })
    await copyFile("/bin/kill", path.join(root, "bin/kill"))
    await chmod(path.join(root, "bin/kill"), 0o755)
    await chmod(path.join(root, "usr/local/bin/socket-proxy"), 0o755)

    const verify = await run("systemd-analyze", ["verify", "--man=no", `--root=${root}`, "socket-proxy.service"])
    const said = `${verify.stdout}${verify.stderr}`.trim()
    // Any output is a warning about the unit (an unknown key, a bad value): fail on it too.
    expect(verify.code === 0 && said === "", `systemd-analyze verify: exit ${verify.code}\n${said}`)
    ok("systemd: systemd-analyze verify passes with no warnings")

    // The same with the configuration-file drop-in and the example file in place.
    await mkdir(path.join(root, "etc/systemd/system/socket-proxy.service.d"), { recursive: true })
    await copyFile(
      path.join(deployDir, "systemd/socket-proxy-config.conf"),
      path.join(root, "etc/systemd/system/socket-proxy.service.d/config.conf")
    )
    await copyFile(
      path.join(deployDir, "config/socket-proxy.yaml"),
      path.join(root, "etc/socket-proxy/socket-proxy.yaml")
    )
    const withFile = await run("systemd-analyze", ["verify", "--man=no", `--root=${root}`, "socket-proxy.service"])
    const saidWithFile = `${withFile.stdout}${withFile.stderr}`.trim()
    expect(
      withFile.code === 0 && saidWithFile === "",
      `systemd-analyze verify with socket-proxy-config.conf: exit ${withFile.code}\n${saidWithFile}`
    )
    ok("systemd: systemd-analyze verify passes with the configuration-file drop-in too")

    // 3.0 ("OK") is what the unit scores; a dropped hardening option raises it.
    const security = await run("systemd-analyze", [
      "security",
      "--offline=yes",
      "--threshold=30",
      `--root=${root}`,
      "socket-proxy.service"
    ])
    const exposure = security.stdout.match(/Overall exposure level for \S+: (.*)/)?.[1] ?? "?"
    expect(
      security.code === 0,
      `systemd-analyze security: exposure ${exposure} is over 3.0\n${security.stdout}${security.stderr}`
    )
    ok(`systemd: systemd-analyze security exposure ${exposure}`)
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

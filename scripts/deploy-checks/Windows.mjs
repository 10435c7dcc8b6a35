// Windows: the WinSW XML parsed (python3); executable, arguments, env, stop, restart, logs.
import * as path from "node:path"
import { run } from "../lib/Child.mjs"
import { expect, ok } from "../lib/Report.mjs"
import { defaultDrainSeconds, deployDir, seconds } from "./Common.mjs"

const readWinswXml = async () => {
  // Python's XML parser: no XML dependency for Node, and python3 is on the CI machine.
  const script = [
    "import json, sys, xml.etree.ElementTree as ET",
    "root = ET.parse(sys.argv[1]).getroot()",
    "text = lambda tag: (root.findtext(tag) or '').strip()",
    "print(json.dumps({'root': root.tag, 'id': text('id'), 'executable': text('executable'),",
    "  'arguments': [a.text for a in root.findall('argument')], 'stoptimeout': text('stoptimeout'),",
    "  'onfailure': [f.attrib for f in root.findall('onfailure')], 'logpath': text('logpath'),",
    "  'log': root.find('log').attrib if root.find('log') is not None else None,",
    "  'env': {e.get('name'): e.get('value') for e in root.findall('env')},",
    "  'account': text('serviceaccount/user')}))"
  ].join("\n")
  const parsed = await run("python3", ["-c", script, path.join(deployDir, "windows/socket-proxy.xml")])
  expect(parsed.code === 0, `WinSW XML does not parse\n${parsed.stderr}`)
  return JSON.parse(parsed.stdout)
}

export const checkWindows = async () => {
  const xml = await readWinswXml()
  expect(xml.root === "service" && xml.id === "socket-proxy", "WinSW: <service> with <id>socket-proxy</id> expected")
  expect(/node\.exe$/i.test(xml.executable), `WinSW: executable must be node.exe, is ${xml.executable}`)
  expect(
    xml.arguments[0] === "%BASE%\\socket-proxy.mjs" && xml.arguments[1] === "proxy",
    `WinSW: arguments must be %BASE%\\socket-proxy.mjs proxy, are ${xml.arguments.join(" ")}`
  )
  for (const name of ["SOCKET_PROXY_LISTEN_PORT", "SOCKET_PROXY_DESTINATIONS"]) {
    expect((xml.env[name] ?? "") !== "", `WinSW: <env name="${name}"> must be set`)
  }
  expect(
    xml.env.SOCKET_PROXY_LOG_FORMAT === "json",
    "WinSW: logs go to a log service: SOCKET_PROXY_LOG_FORMAT must be json"
  )
  const drain = seconds(xml.env.SOCKET_PROXY_DRAIN_TIMEOUT ?? `${defaultDrainSeconds}s`)
  expect(
    seconds(xml.stoptimeout || "15 sec") > drain,
    `WinSW: stoptimeout ${xml.stoptimeout} must exceed the drain timeout ${drain} s`
  )
  expect(
    xml.onfailure.some((failure) => failure.action === "restart"),
    "WinSW: <onfailure action=\"restart\"> expected"
  )
  expect(xml.log?.mode?.startsWith("roll") === true && xml.logpath !== "", "WinSW: logs must roll, into a <logpath>")
  expect(xml.account === "LocalService", `WinSW: run as LocalService, not ${xml.account || "LocalSystem"}`)
  ok(
    `WinSW: parses; node.exe %BASE%\\socket-proxy.mjs proxy, ${
      Object.keys(xml.env).length
    } env variables, stop ${xml.stoptimeout}, restart on failure, logs ${xml.log.mode}`
  )
}

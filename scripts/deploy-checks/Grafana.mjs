// deploy/grafana/socket-proxy.json: the dashboard loads (JSON, the fields Grafana needs,
// unique panel ids and grid places), and every metric its queries name is one the
// built proxy exports: the bundle is started with --metrics, a source's bytes go
// through it to a destination (and one destination is down), and its /metrics is
// scraped. Histograms count with their _bucket, _sum and _count series.
import * as http from "node:http"
import * as net from "node:net"
import { start } from "../lib/Child.mjs"
import { expect, fail, ok } from "../lib/Report.mjs"
import { bundle, freePort, read } from "./Common.mjs"

const dashboardFile = "deploy/grafana/socket-proxy.json"

/** What the issue asks the dashboard to show, by the metric that shows it. */
const mustShow = {
  "sources open": "socket_proxy_connections_open",
  "bytes in": "socket_proxy_bytes_received_total",
  "bytes out per destination": "socket_proxy_bytes_delivered_total",
  "bytes dropped per destination": "socket_proxy_bytes_dropped_total",
  "destinations down": "socket_proxy_destination_up",
  "stalls cut": "socket_proxy_destination_write_stalls_cut_total",
  memory: "process_resident_memory_bytes",
  "event-loop lag": "nodejs_eventloop_lag_p99_seconds"
}

const promqlWords = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "offset",
  "bool",
  "and",
  "or",
  "unless",
  "inf",
  "nan"
])

/**
 * The metric names a PromQL expression refers to: identifiers that are not
 * functions or keywords, outside strings, label matchers, ranges and `by (...)`
 * label lists. Grafana's `$variables` are left out with what holds them.
 */
export const metricNames = (expr) => {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, " ")
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replace(/\$\{?\w+\}?/g, " ")
  const names = new Set()
  for (const match of stripped.matchAll(/(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(\s*\()?/g)) {
    if (match[2] !== undefined || promqlWords.has(match[1].toLowerCase())) continue
    names.add(match[1])
  }
  return names
}

/** Every query of the dashboard, with where it is: panel targets and query variables. */
const queriesOf = (dashboard) => {
  const queries = []
  const panels = (list) => {
    for (const panel of list ?? []) {
      if (panel.type === "row") {
        panels(panel.panels)
        continue
      }
      for (const target of panel.targets ?? [])
        queries.push({ where: `panel "${panel.title}" ${target.refId}`, expr: target.expr })
    }
  }
  panels(dashboard.panels)
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== "query") continue
    const text = typeof variable.query === "string" ? variable.query : variable.query?.query
    // label_values(metric{...}, label) and query_result(expr) name metrics like any query.
    const inner = /^\s*(?:label_values|query_result)\((.*)\)\s*$/.exec(text ?? "")?.[1] ?? text ?? ""
    queries.push({ where: `variable $${variable.name}`, expr: inner.replace(/,\s*\w+\s*$/, "") })
  }
  return queries
}

const checkStructure = (dashboard) => {
  expect(typeof dashboard.title === "string" && dashboard.title.length > 0, `${dashboardFile}: no title`)
  expect(
    typeof dashboard.uid === "string" && /^[\w-]{1,40}$/.test(dashboard.uid),
    `${dashboardFile}: uid must be 1-40 letters, digits, - or _`
  )
  expect(
    Number.isInteger(dashboard.schemaVersion) && dashboard.schemaVersion >= 36,
    `${dashboardFile}: schemaVersion ${dashboard.schemaVersion}`
  )
  expect(Array.isArray(dashboard.panels) && dashboard.panels.length > 0, `${dashboardFile}: no panels`)
  const ids = new Set()
  const cells = new Map()
  for (const panel of dashboard.panels) {
    const name = `panel ${panel.id} "${panel.title}"`
    expect(Number.isInteger(panel.id) && !ids.has(panel.id), `${dashboardFile}: ${name}: missing or repeated id`)
    ids.add(panel.id)
    expect(
      typeof panel.type === "string" && typeof panel.title === "string",
      `${dashboardFile}: ${name}: type and title`
    )
    const { h, w, x, y } = panel.gridPos ?? {}
    expect(
      [h, w, x, y].every(Number.isInteger) && w >= 1 && x >= 0 && x + w <= 24,
      `${dashboardFile}: ${name}: gridPos ${JSON.stringify(panel.gridPos)}`
    )
    // No two panels on one grid cell: Grafana would move one, and the layout is not what was checked in.
    for (let row = y; row < y + h; row++) {
      for (let column = x; column < x + w; column++) {
        const other = cells.get(`${row},${column}`)
        expect(other === undefined, `${dashboardFile}: ${name} overlaps panel ${other}`)
        cells.set(`${row},${column}`, panel.id)
      }
    }
    if (panel.type === "row") continue
    expect(Array.isArray(panel.targets) && panel.targets.length > 0, `${dashboardFile}: ${name}: no queries`)
    const refIds = new Set()
    for (const target of panel.targets) {
      expect(
        typeof target.expr === "string" && target.expr.trim() !== "",
        `${dashboardFile}: ${name}: a target without expr`
      )
      expect(!refIds.has(target.refId), `${dashboardFile}: ${name}: refId ${target.refId} repeated`)
      refIds.add(target.refId)
    }
    const uid = panel.datasource?.uid
    expect(
      uid === "${datasource}",
      `${dashboardFile}: ${name}: datasource must be the $datasource variable, not ${JSON.stringify(panel.datasource)}`
    )
  }
  const variables = new Map((dashboard.templating?.list ?? []).map((variable) => [variable.name, variable]))
  expect(
    variables.get("datasource")?.type === "datasource" && variables.get("datasource")?.query === "prometheus",
    `${dashboardFile}: no Prometheus $datasource variable`
  )
  const used = JSON.stringify(dashboard.panels)
  for (const name of used.match(/\$\{?(\w+)/g) ?? []) {
    const variable = name.replace(/^\$\{?/, "")
    expect(
      variable.startsWith("__") || variables.has(variable),
      `${dashboardFile}: $${variable} is used but not defined in templating`
    )
  }
}

const httpGet = (port, path) =>
  new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path, agent: false }, (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (text) => (body += text))
      response.on("end", () => resolve(body))
    }).on("error", reject)
  })

/** The metric names the built proxy exports, from a scrape after real traffic. */
const exportedNames = async () => {
  const received = { bytes: 0, notify: () => {} }
  const destination = net.createServer((socket) => {
    socket.on("data", (chunk) => {
      received.bytes += chunk.length
      received.notify()
    })
  })
  await new Promise((resolve) => destination.listen({ host: "127.0.0.1", port: 0 }, resolve))
  const down = await freePort()
  const proxy = start(process.execPath, [
    bundle,
    "proxy",
    "--listen",
    "127.0.0.1:0",
    "--metrics",
    "127.0.0.1:0",
    "--dest",
    `127.0.0.1:${destination.address().port}`,
    "--dest",
    `127.0.0.1:${down}`
  ])
  try {
    const [, , metricsPort] = await proxy.waitForLine(/metrics and health on http:\/\/(\S+):(\d+)/)
    const [, , port] = await proxy.waitForLine(/listening on (\S+):(\d+)/)
    const source = net.connect({ host: "127.0.0.1", port: Number(port) })
    const payload = Buffer.alloc(1000, 7)
    await new Promise((resolve) => {
      received.notify = () => received.bytes >= payload.length && resolve()
      source.write(payload)
    })
    // The down destination has been tried once its "is down" line is out.
    await proxy.waitForLine(/is down/)
    source.end()
    await proxy.waitForLine(/connection closed/)
    // The session's duration is recorded as its scope closes, around that line; a scrape
    // has no event to wait on, so look again a few times until the histogram is there.
    let text = ""
    for (let attempt = 0; attempt < 40; attempt++) {
      text = await httpGet(Number(metricsPort), "/metrics")
      if (text.includes("# TYPE socket_proxy_session_duration_seconds histogram")) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const names = new Set()
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      names.add(name)
      if (type === "histogram") { for (const suffix of ["_bucket", "_sum", "_count"]) names.add(name + suffix) }
      if (type === "summary") { for (const suffix of ["_sum", "_count"]) names.add(name + suffix) }
    }
    for (const name of ["socket_proxy_destination_up", "socket_proxy_session_duration_seconds"]) {
      expect(names.has(name), `the scrape has no ${name} after traffic:\n${text}`)
    }
    return names
  } finally {
    proxy.kill("SIGTERM")
    await proxy.waitForExit()
    destination.close()
  }
}

export const checkGrafana = async () => {
  let dashboard
  try {
    dashboard = JSON.parse(await read(dashboardFile))
  } catch (error) {
    fail(`${dashboardFile} does not load: ${error.message}`)
  }
  checkStructure(dashboard)
  const queries = queriesOf(dashboard)
  ok(`grafana: ${dashboardFile} loads: ${dashboard.panels.length} panels, ${queries.length} queries`)
  const exported = await exportedNames()
  const referenced = new Set()
  for (const { where, expr } of queries) {
    const names = metricNames(expr)
    expect(names.size > 0, `${dashboardFile}: ${where}: no metric in ${JSON.stringify(expr)}`)
    for (const name of names) {
      expect(
        exported.has(name),
        `${dashboardFile}: ${where} queries ${name}, which the proxy does not export (${JSON.stringify(expr)})`
      )
      referenced.add(name)
    }
  }
  for (const [what, name] of Object.entries(mustShow)) {
    expect(referenced.has(name), `${dashboardFile}: nothing shows ${what} (${name})`)
  }
  ok(`grafana: every one of the ${referenced.size} metrics the dashboard queries is exported by the built proxy`)
}

// N sources x 2 destinations, a 64-byte message per source per second. Sources and
// sinks are spread over child processes so the harness stays under the descriptor limit.
// Measures, in order: connection set-up (from the first source's dial to the last of
// the 2N destination connections accepted, on the machine's monotonic clock); RSS per
// source connection while idle (everything up, nothing sent, after `idleMs`); then the
// run at 1 msg/s (delivery, order, latency, CPU) and RSS per source connection after it.
// Per-connection RSS is (RSS − RSS before any source connected) / N.
import { fork } from "node:child_process"
import { cpuSeconds, peakRss, rss } from "../lib/procstat.mjs"
import { startServer } from "../lib/servers.mjs"
import { histogramBuckets, histogramPercentile, sleep, within } from "../lib/stats.mjs"

const childScript = new URL("../lib/manyChild.mjs", import.meta.url)
/** Sources per child process. */
const sourcesPerChild = 5000

const startChild = (args) => {
  const child = fork(childScript, args, { stdio: ["ignore", "inherit", "inherit", "ipc"] })
  const next = (type) =>
    new Promise((resolve, reject) => {
      const onExit = (code) => reject(new Error(`bench child ${args[0]} exited (${code}) waiting for ${type}`))
      const onMessage = (message) => {
        if (message.type === type) {
          child.off("message", onMessage)
          child.off("exit", onExit)
          resolve(message)
        }
      }
      child.on("message", onMessage)
      child.once("exit", onExit)
    })
  const exited = new Promise((resolve) => child.once("exit", resolve))
  return {
    next,
    ask: (type, extra = {}) => {
      const reply = next(type)
      child.send({ type, ...extra })
      return reply
    },
    tell: (type, extra = {}) => child.send({ type, ...extra }),
    close: async () => {
      if (child.exitCode === null) child.send({ type: "close" })
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000)
      await exited
      clearTimeout(timer)
    }
  }
}

export const manyRun = async (kind, sources, durationMs, idleMs) => {
  const sinks = [startChild(["sink"]), startChild(["sink"])]
  const ports = (await Promise.all(sinks.map((sink) => sink.next("listening")))).map((m) => m.port)
  const server = await startServer(kind, ports)
  const children = []
  try {
    await sleep(200)
    const baselineRss = rss(server.pid)
    for (let first = 0; first < sources; first += sourcesPerChild) {
      const count = Math.min(sourcesPerChild, sources - first)
      children.push(startChild(["sources", String(server.port), String(count), String(first)]))
    }
    const connected = await within(Promise.all(children.map((c) => c.next("connected"))), 120_000, "sources connected")
    const established = connected.reduce((sum, c) => sum + c.established, 0)
    // Every source's two destination connections, as the sinks count them.
    let upstream = 0
    let lastAcceptAt = Number.NaN
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      const reports = await Promise.all(sinks.map((sink) => sink.ask("report")))
      upstream = reports.reduce((sum, r) => sum + r.open, 0)
      lastAcceptAt = Math.max(...reports.map((r) => r.lastAcceptAt))
      if (upstream >= 2 * established) break
      await sleep(50)
    }
    const dialStartAt = Math.min(...connected.map((c) => c.dialStartAt))
    const setupSeconds = upstream >= 2 * established ? (lastAcceptAt - dialStartAt) / 1000 : Number.NaN
    // Idle: every connection up, nothing sent yet.
    await sleep(idleMs)
    const idleRss = rss(server.pid)
    const cpuBefore = cpuSeconds(server.pid)
    const runStart = Date.now()
    const sentReplies = children.map((c) => c.next("sent"))
    for (const c of children) c.tell("run", { durationMs })
    const sent = (await within(Promise.all(sentReplies), durationMs + 60_000, "sources sent")).reduce(
      (sum, m) => sum + m.sent,
      0
    )
    const runSeconds = (Date.now() - runStart) / 1000
    const cpu = cpuSeconds(server.pid) - cpuBefore
    const loadedRss = rss(server.pid)
    // Wait (a while) for the last messages to reach both destinations.
    let reports = []
    const drainDeadline = Date.now() + 15_000
    while (true) {
      reports = await Promise.all(sinks.map((sink) => sink.ask("report")))
      if (reports.every((r) => r.messages >= sent) || Date.now() > drainDeadline) break
      await sleep(100)
    }
    const histogram = new Array(histogramBuckets).fill(0)
    for (const r of reports) r.histogram.forEach((count, i) => (histogram[i] += count))
    return {
      sources,
      established,
      destinationConnections: upstream,
      setupSeconds,
      messagesSent: sent * 2,
      messagesDelivered: reports.reduce((sum, r) => sum + r.messages, 0),
      outOfOrder: reports.reduce((sum, r) => sum + r.outOfOrder, 0),
      p99Ms: histogramPercentile(histogram, 0.99),
      cpuPercent: (100 * cpu) / runSeconds,
      rssMB: loadedRss / 1e6,
      baselineRssMB: baselineRss / 1e6,
      idleRssMB: idleRss / 1e6,
      idleRssPerConnectionKB: (idleRss - baselineRss) / established / 1000,
      rssPerConnectionKB: (loadedRss - baselineRss) / established / 1000,
      peakRssMB: peakRss(server.pid) / 1e6
    }
  } finally {
    await Promise.all(children.map((c) => c.close()))
    await server.stop()
    await Promise.all(sinks.map((sink) => sink.close()))
  }
}

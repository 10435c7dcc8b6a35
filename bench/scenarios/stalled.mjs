// 1 source -> 3 destinations, one of which accepts and never reads. Throughput to
// the two healthy ones before and after --write-timeout, against the same proxy
// feeding only the two healthy ones; and the proxy's peak RSS.
import { peakRss } from "../lib/procstat.mjs"
import { startServer } from "../lib/servers.mjs"
import { sleep, within } from "../lib/stats.mjs"
import { startSink, startSource } from "../lib/threads.mjs"

/** MB/s summed over `reports` between `from` and `to` (ms on the shared clock), from their 100 ms samples. */
const rateBetween = (reports, from, to) => {
  const bytesAt = (series, t) => {
    let last = 0
    for (const [at, bytes] of series) {
      if (at > t) break
      last = bytes
    }
    return last
  }
  let bytes = 0
  for (const r of reports) bytes += bytesAt(r.series, to) - bytesAt(r.series, from)
  return bytes / (to - from) / 1000
}

/**
 * Runs `kind` for `beforeMs + afterMs` with a stalled destination when `stalled`
 * (else with only the two healthy ones) and reports healthy throughput over
 * [0, beforeMs) and [beforeMs + settleMs, end).
 */
export const stalledRun = async (kind, stalled, { writeTimeout, beforeMs, settleMs, afterMs }) => {
  const healthy = await Promise.all([startSink("stream"), startSink("stream")])
  const stall = stalled ? await startSink("stall") : undefined
  const ports = [...healthy.map((sink) => sink.port), ...(stall ? [stall.port] : [])]
  const server = await startServer(kind, ports, kind === "proxy" ? ["--write-timeout", writeTimeout] : [])
  const source = startSource({ mode: "timed", ports: [server.port] })
  try {
    const { at: startedAt } = await source.started
    await sleep(beforeMs + settleMs + afterMs)
    source.stop()
    const peak = peakRss(server.pid)
    const reports = await Promise.all(healthy.map((sink) => sink.report()))
    const before = rateBetween(reports, startedAt, startedAt + beforeMs)
    const after = rateBetween(reports, startedAt + beforeMs + settleMs, startedAt + beforeMs + settleMs + afterMs)
    let verified = reports.every((r) => r.mismatches === 0)
    // The proxy must still deliver every byte to the healthy ones; the reference is stuck for good.
    if (kind === "proxy") {
      const { bytes } = await within(source.sent, 60_000, "stalled: source ended")
      await within(
        Promise.all(healthy.map((sink) => sink.complete(bytes[0]))),
        60_000,
        "stalled: healthy sinks got everything"
      )
      const final = await Promise.all(healthy.map((sink) => sink.report()))
      verified = final.every((r) => r.mismatches === 0 && r.bytes === bytes[0])
      if (!verified) throw new Error("stalled: the healthy destinations did not get every byte")
    }
    return { beforeMBps: before, afterMBps: after, peakRssMB: peak / 1e6, verified }
  } finally {
    await source.close()
    await server.stop()
    await Promise.all([...healthy, ...(stall ? [stall] : [])].map((sink) => sink.close()))
  }
}

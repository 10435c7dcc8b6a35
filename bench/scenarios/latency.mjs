// 64-byte messages every `intervalMs` from one source to N destinations; one-way
// latency from the send time written in each message (same machine, same clock).
import { messageSize } from "../lib/clock.mjs"
import { peakRss } from "../lib/procstat.mjs"
import { startServer } from "../lib/servers.mjs"
import { percentile, within } from "../lib/stats.mjs"
import { startSink, startSource } from "../lib/threads.mjs"

export const latencyRun = async (kind, destinations, count, intervalMs) => {
  const sinks = await Promise.all(Array.from({ length: destinations }, () => startSink("messages")))
  const server = await startServer(kind, sinks.map((sink) => sink.port))
  const source = startSource({ mode: "messages", ports: [server.port], count, intervalMs })
  try {
    const completions = sinks.map((sink) => sink.complete(count * messageSize))
    await within(source.sent, count * intervalMs + 60_000, "latency source finished")
    await within(Promise.all(completions), 30_000, `${kind} latency: all messages at the sinks`)
    const peak = peakRss(server.pid)
    const reports = await Promise.all(sinks.map((sink) => sink.report()))
    const latencies = reports.flatMap((r) => r.latenciesMs)
    const delivered = reports.every((r) => r.latenciesMs.length === count && r.outOfOrder === 0)
    if (!delivered) throw new Error(`${kind} latency: messages lost or out of order`)
    return {
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
      maxMs: Math.max(...latencies),
      messages: latencies.length,
      peakRssMB: peak / 1e6
    }
  } finally {
    await source.close()
    await server.stop()
    await Promise.all(sinks.map((sink) => sink.close()))
  }
}

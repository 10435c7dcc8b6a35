// 1 source -> N destinations, `totalBytes` through, every byte verified at every sink.
// kind "ceiling" wires the source straight to the sinks: what the harness alone can do.
// With `tls` (bench/lib/certs.mjs) every leg speaks TLS: the source to the fan-out (or,
// for the ceiling, straight to the sinks) and the fan-out to the sinks, which serve the
// server certificate; bytes are verified after decryption, at every sink.
// Read and write system calls of the fan-out process (/proc/PID/io, all its threads)
// from just before the source connects to after the last byte arrived and the source ended.
import { startHaproxy } from "../lib/haproxy.mjs"
import { cpuSeconds, ioCounters, kernelCounters, peakRss } from "../lib/procstat.mjs"
import { startServer } from "../lib/servers.mjs"
import { within } from "../lib/stats.mjs"
import { startSink, startSource } from "../lib/threads.mjs"

/**
 * The proxy's `--write-timeout` in these bulk runs. Behind a source faster than every
 * destination, the slower of two destinations holds the source back while the faster
 * one could take more, and the proxy cuts it after `--write-timeout` (README, "A slow
 * destination cannot hold everyone back"): by design, but then its sink never gets every
 * byte. Over TLS on 2 shared cores, one sink decrypting a little slower than the other
 * for 5 s (the default) was enough. These runs measure the data path's speed, not that
 * policy (the stalled scenario does), so the proxy is given longer than a run lasts.
 */
const bulkWriteTimeout = "10m"

/**
 * `framed`: the proxy with `--framing` and a stream of lines of `messageSize`
 * bytes (issue 13), e.g. `{ framing: "lines", messageSize: 100 }`; the same
 * stream with `framing: "none"` is its comparison.
 * `haproxy`: the path of an haproxy binary to put in front of the fan-out (the source
 * connects to HAProxy); the proxy then runs with --accept-proxy-protocol and HAProxy
 * sends it PROXY v2, the reference gets the bare stream.
 * `tls`: the certificates of makeCertificates; the proxy and the reference get
 * `--tls-cert`/`--tls-key` (the server's) and `--dest-ca` (the CA), their
 * destinations as `tls://127.0.0.1:PORT`.
 */
export const throughputRun = async (
  kind,
  destinations,
  totalBytes,
  framed = undefined,
  haproxy = undefined,
  tls = undefined
) => {
  const messageSize = framed?.messageSize
  const sinkTls = tls === undefined ? undefined : { cert: tls.cert, key: tls.key }
  const sinks = await Promise.all(
    Array.from({ length: destinations }, () => startSink("stream", { messageSize, tls: sinkTls }))
  )
  const ports = sinks.map((sink) => sink.port)
  const extra = [
    "--write-timeout",
    bulkWriteTimeout,
    ...(framed === undefined ? [] : ["--framing", framed.framing]),
    ...(haproxy !== undefined && kind !== "reference" ? ["--accept-proxy-protocol"] : [])
  ]
  const server = kind === "ceiling" ? undefined : await startServer(kind, ports, extra, { tls })
  const balancer = haproxy === undefined || server === undefined
    ? undefined
    : await startHaproxy(haproxy, server.port, { sendProxyV2: kind !== "reference" }).catch(async (error) => {
      await server.stop()
      await Promise.all(sinks.map((sink) => sink.close()))
      throw error
    })
  const ioBefore = server ? ioCounters(server.pid) : { reads: Number.NaN, writes: Number.NaN }
  const entry = balancer?.port ?? server?.port
  const source = startSource({
    mode: "stream",
    ports: entry !== undefined ? [entry] : ports,
    totalBytes,
    messageSize,
    tls: tls === undefined ? undefined : { ca: tls.ca }
  })
  try {
    const cpuBefore = server ? cpuSeconds(server.pid) : Number.NaN
    const kernelBefore = server ? kernelCounters(server.pid) : undefined
    const completions = sinks.map((sink) => sink.complete(totalBytes))
    const { at: startedAt } = await source.started
    await within(source.sent, 300_000, `${kind} 1->${destinations}: the source sending everything`)
    // Once the source is done, the sinks get the rest within seconds, or never (a
    // destination was cut or lost): say which at once rather than wait out a timeout.
    const done = await within(Promise.all(completions), 30_000, `${kind} 1->${destinations}: all bytes at the sinks`)
      .catch(async (error) => {
        const reports = await Promise.all(sinks.map((sink) => sink.report()))
        throw new Error(
          `${error.message}, 30 s after the source finished: the sinks have ${
            JSON.stringify(reports.map(({ bytes, connections }) => ({ bytes, connections })))
          } of ${totalBytes} B each (BENCH_LOG=FILE keeps what the fan-out logs)`
        )
      })
    const endedAt = Math.max(...done.map((d) => d.at))
    const cpu = server ? cpuSeconds(server.pid) - cpuBefore : Number.NaN
    const kernelAfter = server ? kernelCounters(server.pid) : undefined
    const ioAfter = server ? ioCounters(server.pid) : { reads: Number.NaN, writes: Number.NaN }
    const mib = totalBytes / 2 ** 20
    const peak = server ? peakRss(server.pid) : Number.NaN
    const reports = await Promise.all(sinks.map((sink) => sink.report()))
    const verified = reports.every((r) => r.bytes === totalBytes && r.mismatches === 0 && r.connections === 1)
    if (!verified)
      throw new Error(
        `${kind} 1->${destinations}: bytes did not verify: ${
          JSON.stringify(reports.map(({ bytes, mismatches, connections }) => ({ bytes, mismatches, connections })))
        }`
      )
    return {
      mbPerSecond: (destinations * totalBytes) / (endedAt - startedAt) / 1000,
      cpuSeconds: cpu,
      systemSeconds: kernelAfter === undefined ? Number.NaN : kernelAfter.systemSeconds - kernelBefore.systemSeconds,
      minorFaultsPerMiB: kernelAfter === undefined
        ? Number.NaN
        : (kernelAfter.minorFaults - kernelBefore.minorFaults) / (totalBytes / 2 ** 20),
      /** System calls per MiB sent by the source (writes cover every destination). */
      readsPerMiB: (ioAfter.reads - ioBefore.reads) / mib,
      writesPerMiB: (ioAfter.writes - ioBefore.writes) / mib,
      peakRssMB: peak / 1e6,
      verifiedBytes: reports.reduce((sum, r) => sum + r.bytes, 0)
    }
  } finally {
    await source.close()
    await balancer?.stop()
    await server?.stop()
    await Promise.all(sinks.map((sink) => sink.close()))
  }
}

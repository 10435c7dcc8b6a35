// `npm run bench [-- options]`: every scenario of BENCHMARKS.md against the proxy and
// the plain-Node reference (bench/reference.mjs) in the same run; prints the markdown
// table and writes bench/results/<name>.json, .md and .svg; a full run ("latest")
// also refreshes the table in BENCHMARKS.md.
//   --quick             tiny sizes (seconds): checks the bench works and bytes verify
//   --only a,b          a subset of: throughput, framing, haproxy, tls, latency, many, stalled, heap, startup
//   --runs N            runs per figure (median and range); default 3 (1 with --quick)
//   --mib N             MiB per throughput run (default 1024; 16 with --quick)
//   --out NAME          results file name; default "latest" ("quick" with --quick,
//                       "partial" with --only)
//   --sessions N        idle sessions of the heap probe (default 1000; 50 with --quick)
// The table shows, for every figure, the proxy's median, the reference's, their ratio
// (or difference), the target and whether it holds (a full run only: a quick run's
// sizes are too small to judge speed; no run ever fails on a target).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { bundlePath, removeBundle } from "./lib/bundle.mjs"
import { findOpenssl, makeCertificates } from "./lib/certs.mjs"
import { findHaproxy } from "./lib/haproxy.mjs"
import { commitLabel } from "./lib/git.mjs"
import { markdownTable, svgPlot } from "./lib/report.mjs"
import { proxyEntryLabel, repoRoot } from "./lib/servers.mjs"
import { summarize } from "./lib/stats.mjs"
import { latencyRun } from "./scenarios/latency.mjs"
import { manyRun } from "./scenarios/many.mjs"
import { stalledRun } from "./scenarios/stalled.mjs"
import { startupRun } from "./scenarios/startup.mjs"
import { throughputRun } from "./scenarios/throughput.mjs"
import { heapMarkdown, heapRun, structureCounts } from "./probe/heapBreakdown.mjs"

const args = process.argv.slice(2)
const flag = (name) => args.includes(name)
const option = (name) => {
  const at = args.indexOf(name)
  return at >= 0 ? args[at + 1] : undefined
}
const quick = flag("--quick")
const allScenarios = ["throughput", "framing", "haproxy", "tls", "latency", "many", "stalled", "heap", "startup"]
const only = (option("--only") ?? allScenarios.join(",")).split(",")
for (const name of only) {
  if (!allScenarios.includes(name)) {
    console.error(`unknown scenario ${name}; choose from ${allScenarios.join(", ")}`)
    process.exit(2)
  }
}
const runs = Number(option("--runs") ?? (quick ? 1 : 3))
const outName = option("--out") ?? (quick ? "quick" : only.length === allScenarios.length ? "latest" : "partial")
const throughputMiB = Number(option("--mib") ?? (quick ? 16 : 1024))
const heapSessions = Number(option("--sessions") ?? (quick ? 50 : 1000))

/** The descriptor limit of this process (and so of the proxy it starts). */
const openFilesLimit = () => {
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync("/proc/self/limits", "utf8"))
  return match === null || match[1] === "unlimited" ? Number.POSITIVE_INFINITY : Number(match[1])
}
const targetSources = 10_000
/** Each source costs the proxy 3 descriptors (1 in, 2 out); keep some for everything else. */
const largestSourcesThatFit = Math.min(targetSources, Math.floor((openFilesLimit() - 500) / 3 / 500) * 500)

const sizes = quick
  ? {
    throughputBytes: throughputMiB * 1024 * 1024,
    destinations: [1, 2, 4],
    latency: { count: 50, intervalMs: 10 },
    manyCounts: [50],
    manyDurationMs: 2000,
    manyIdleMs: 500,
    stalled: { writeTimeout: "500ms", beforeMs: 500, settleMs: 500, afterMs: 1000 }
  }
  : {
    throughputBytes: throughputMiB * 1024 * 1024,
    destinations: [1, 2, 4],
    latency: { count: 1000, intervalMs: 10 },
    // 1,000 and the largest count that fits the descriptor limit (10,000 where it allows).
    manyCounts: [...new Set([Math.min(1000, largestSourcesThatFit), largestSourcesThatFit])].filter((count) =>
      count > 0
    ),
    manyDurationMs: 10_000,
    manyIdleMs: 3000,
    stalled: { writeTimeout: "2s", beforeMs: 2000, settleMs: 1000, afterMs: 5000 }
  }

const loadAverage = () => os.loadavg().map((l) => l.toFixed(2)).join(" ")
const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model.trim() ?? "unknown",
  memoryGB: Math.round(os.totalmem() / 1e9),
  node: process.version,
  platform: `${os.type()} ${os.release()}`,
  openFilesLimit: openFilesLimit(),
  loadBefore: loadAverage(),
  loadAfter: "",
  commit: commitLabel()
}

const rows = []
const notes = []
const raw = {}
const log = (text) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${text}\n`)

/** Runs `run(kind)` for each kind, `times` times, interleaved so load hits every kind alike. */
const repeat = async (label, kinds, times, run) => {
  const results = Object.fromEntries(kinds.map((kind) => [kind, []]))
  for (let i = 0; i < times; i++) {
    for (const kind of kinds) {
      log(`${label}: ${kind} run ${i + 1}/${times}`)
      results[kind].push(await run(kind))
    }
  }
  raw[label] = results
  return results
}

const figure = (scenario, name, results, pick, digits, extra = {}) => {
  const of = (kind) => (results[kind] && results[kind].length > 0 ? summarize(results[kind].map(pick)) : undefined)
  rows.push({
    scenario,
    figure: name,
    digits,
    proxy: of("proxy"),
    reference: of("reference"),
    ceiling: of("ceiling"),
    ...extra
  })
}
/** Targets (issue 9): on the ratio or difference proxy vs reference, or on the proxy's own figure. */
const ratioAtLeast = (value) => ({ target: { on: "comparison", op: ">=", value } })
const ratioAtMost = (value) => ({ target: { on: "comparison", op: "<=", value } })
const differenceAtMost = (value, unit) => ({
  compare: "difference",
  target: { on: "comparison", op: "<=", value, unit }
})
const proxyAtMost = (value, unit, op = "<=") => ({ target: { on: "proxy", op, value, unit } })
const proxyAtLeast = (value, unit) => ({ target: { on: "proxy", op: ">=", value, unit } })

const started = Date.now()
mkdirSync(path.join(repoRoot, "bench", "results"), { recursive: true })

if (only.includes("throughput")) {
  for (const n of sizes.destinations) {
    const scenario = `throughput 1→${n}`
    const results = await repeat(
      scenario,
      ["ceiling", "reference", "proxy"],
      runs,
      (kind) => throughputRun(kind, n, sizes.throughputBytes)
    )
    figure(scenario, "MB/s (sum over destinations)", results, (r) => r.mbPerSecond, 0, ratioAtLeast(0.95))
    figure(scenario, "read system calls per MiB from the source", results, (r) => r.readsPerMiB, 1, ratioAtMost(1.25))
    figure(scenario, "write system calls per MiB from the source", results, (r) => r.writesPerMiB, 1, ratioAtMost(1.25))
    figure(scenario, "CPU seconds of the fan-out process", results, (r) => r.cpuSeconds, 2)
    figure(scenario, "of which in the kernel (system time), s", results, (r) => r.systemSeconds, 2)
    figure(scenario, "minor page faults per MiB from the source", results, (r) => r.minorFaultsPerMiB, 0)
    figure(scenario, "peak RSS, MB", results, (r) => r.peakRssMB, 0)
  }
  notes.push(
    `Throughput: ${
      sizes.throughputBytes / 2 ** 20
    } MiB from one source, every byte verified at every destination; MB = 10^6 bytes. ` +
      "The proxy runs these bulk transfers (and the framing, HAProxy and TLS ones) with `--write-timeout 10m`: behind a source faster than both, the slower destination would otherwise be cut after 5 s, as the README says, and miss bytes (the stalled scenario measures that policy). " +
      "System calls: `syscr` / `syscw` of the fan-out's own node process (`/proc/PID/io`, all its threads), read just before the source connects and after the last byte arrived, over the MiB the source sent (writes cover all destinations). Minor page faults: pages the kernel mapped in fresh for the fan-out (`/proc/PID/stat`), mostly socket read buffers the allocator had given back (see BENCHMARKS.md, What stands in the way)."
  )
}

if (only.includes("framing")) {
  // Issue 13: the same proxy and the same stream of lines, with --framing lines and with none, interleaved.
  for (const messageSize of [100, 1024]) {
    const scenario = `throughput 1→2, lines of ${messageSize} B, --framing lines vs none`
    const results = await repeat(
      scenario,
      ["none", "lines"],
      runs,
      (framing) => throughputRun("proxy", 2, sizes.throughputBytes, { framing, messageSize })
    )
    const view = { proxy: results.lines, reference: results.none }
    figure(scenario, "MB/s (sum over destinations)", view, (r) => r.mbPerSecond, 0, ratioAtLeast(0.9))
    figure(scenario, "CPU seconds of the fan-out process", view, (r) => r.cpuSeconds, 2)
  }
  notes.push(
    `Framing: ${
      sizes.throughputBytes / 2 ** 20
    } MiB of lines of 100 B and of 1 KiB from one source to 2 destinations, every byte verified; in these rows ` +
      "\"proxy\" is the proxy with `--framing lines` and \"reference\" the same proxy with `--framing none`, run alternately."
  )
}

if (only.includes("haproxy")) {
  // Replicas behind a balancer (docs/deploy.md, "Scaling out"): one of them behind HAProxy,
  // the proxy with --accept-proxy-protocol (HAProxy sends PROXY v2), the reference bare.
  const scenario = "throughput 1→2 through HAProxy"
  const haproxy = findHaproxy()
  if (haproxy === undefined) {
    log(`${scenario}: skipped: no haproxy on PATH or in /usr/sbin (.ci/run installs it)`)
    notes.push(`${scenario}: not run: haproxy is not installed here.`)
  } else {
    const results = await repeat(
      scenario,
      ["reference", "proxy"],
      runs,
      (kind) => throughputRun(kind, 2, sizes.throughputBytes, undefined, haproxy)
    )
    figure(scenario, "MB/s (sum over destinations)", results, (r) => r.mbPerSecond, 0, ratioAtLeast(0.95))
    figure(scenario, "CPU seconds of the fan-out process", results, (r) => r.cpuSeconds, 2)
    notes.push(
      `Through HAProxy: the throughput run 1→2 with HAProxy (\`mode tcp\`, one server) between the source and the fan-out; ` +
        "the proxy runs with `--accept-proxy-protocol` and HAProxy sends it a PROXY v2 header (`send-proxy-v2`), the reference gets the bare stream; every byte verified at both destinations."
    )
  }
}

if (only.includes("tls")) {
  // Issue 12: TLS on both legs (docs/tls.md): the source speaks TLS to the fan-out, the fan-out
  // to both destinations; against the same reference with tls.createServer and tls.connect.
  const scenario = "throughput 1→2 over TLS (source and destinations)"
  const openssl = findOpenssl()
  if (openssl === undefined) {
    log(`${scenario}: skipped: no openssl on PATH or at /usr/bin/openssl (it makes the certificates)`)
    notes.push(`${scenario}: not run: openssl is not installed here.`)
  } else {
    const certificates = makeCertificates(openssl)
    try {
      const results = await repeat(
        scenario,
        ["ceiling", "reference", "proxy"],
        runs,
        (kind) => throughputRun(kind, 2, sizes.throughputBytes, undefined, undefined, certificates)
      )
      figure(scenario, "MB/s (sum over destinations)", results, (r) => r.mbPerSecond, 0, ratioAtLeast(0.9))
      figure(scenario, "read system calls per MiB from the source", results, (r) => r.readsPerMiB, 1)
      figure(scenario, "write system calls per MiB from the source", results, (r) => r.writesPerMiB, 1)
      figure(scenario, "CPU seconds of the fan-out process", results, (r) => r.cpuSeconds, 2)
      figure(scenario, "peak RSS, MB", results, (r) => r.peakRssMB, 0)
    } finally {
      certificates.remove()
    }
    notes.push(
      `Over TLS: ${
        sizes.throughputBytes / 2 ** 20
      } MiB from one source to 2 destinations, TLS on both legs: the source connects with TLS to the fan-out, which connects with TLS to both destinations (\`tls://127.0.0.1:PORT\`, verified against \`--dest-ca\`); ` +
        "the proxy with `--tls-cert`/`--tls-key`/`--dest-ca`, the reference (`bench/reference.mjs`) with the same flags (`tls.createServer` on its listener, `tls.connect` to its destinations); " +
        "a CA and a server certificate for localhost/127.0.0.1 (EC P-256) made by openssl for the run and removed after it; every byte verified, decrypted, at both destinations; the harness ceiling is the source speaking TLS straight to the sinks."
    )
  }
}

if (only.includes("latency")) {
  const { count, intervalMs } = sizes.latency
  // The one-file build, as deployed; built before anything is timed.
  bundlePath()
  const results = await repeat(
    `latency 1→2, ${1000 / intervalMs} msg/s`,
    ["reference", "proxy", "bundle"],
    runs,
    (kind) => latencyRun(kind, 2, count, intervalMs)
  )
  const how = process.env.BENCH_PROXY_ENTRY ? "BENCH_PROXY_ENTRY" : "through tsx"
  for (const [label, kind] of [[how, "proxy"], ["one-file build", "bundle"]]) {
    const scenario = `latency 1→2, ${1000 / intervalMs} msg/s, ${label}`
    const view = { proxy: results[kind], reference: results.reference }
    figure(scenario, "p50 latency, ms", view, (r) => r.p50Ms, 3, differenceAtMost(0.05, "ms"))
    figure(scenario, "p99 latency, ms", view, (r) => r.p99Ms, 3, differenceAtMost(0.3, "ms"))
    figure(scenario, "max latency, ms", view, (r) => r.maxMs, 3, { compare: "difference" })
  }
  notes.push(
    `Latency: ${count} messages of 64 bytes, one every ${intervalMs} ms, one-way, to each of 2 destinations; ` +
      "the proxy both as the bench runs it everywhere else and as deployed (the one-file build of `npm run build`, plain node), each against the same reference runs; \"proxy vs reference\" is the difference in ms."
  )
}

if (only.includes("many")) {
  for (const count of sizes.manyCounts) {
    const scenario = `many sources ${count}×2`
    const results = await repeat(
      scenario,
      ["reference", "proxy"],
      count > 2000 ? 1 : runs,
      (kind) => manyRun(kind, count, sizes.manyDurationMs, sizes.manyIdleMs)
    )
    const first = count === sizes.manyCounts[0]
    figure(scenario, "destination connections up", results, (r) => r.destinationConnections, 0, { noRatio: true })
    figure(
      scenario,
      `time until all ${(2 * count).toLocaleString("en")} destination connections are up, s`,
      results,
      (r) => r.setupSeconds,
      2,
      first ? ratioAtMost(1.5) : {}
    )
    figure(
      scenario,
      "RSS per source connection, idle, KB",
      results,
      (r) => r.idleRssPerConnectionKB,
      1,
      proxyAtMost(40, "KB")
    )
    figure(scenario, "messages delivered / sent", results, (r) => r.messagesDelivered / r.messagesSent, 4, {
      noRatio: true
    })
    figure(scenario, "p99 latency, ms", results, (r) => r.p99Ms, 1)
    figure(scenario, "CPU % of one core", results, (r) => r.cpuPercent, 1)
    figure(scenario, "RSS, MB", results, (r) => r.rssMB, 0)
    figure(
      scenario,
      "RSS per source connection at 1 msg/s, KB",
      results,
      (r) => r.rssPerConnectionKB,
      1,
      proxyAtMost(40, "KB")
    )
    for (const kind of ["reference", "proxy"]) {
      const bad = results[kind].find((r) =>
        r.messagesDelivered !== r.messagesSent || r.outOfOrder !== 0 || r.established !== count
      )
      if (bad)
        notes.push(
          `many sources ${count}×2, ${kind}: ${bad.established} connected, ${bad.messagesDelivered} of ${bad.messagesSent} messages delivered, ${bad.outOfOrder} out of order.`
        )
    }
    if (count < targetSources && count === largestSourcesThatFit) {
      const proxy = results.proxy.at(-1)
      const factor = targetSources / count
      notes.push(
        `${
          targetSources.toLocaleString("en")
        } sources do not fit this machine's descriptor limit (${machine.openFilesLimit} per process; the proxy needs 3 per source), so the largest count that fits, ${
          count.toLocaleString("en")
        }, was run. ` +
          `EXTRAPOLATED linearly to ${targetSources.toLocaleString("en")}×2 from that run: proxy CPU ≈ ${
            (proxy.cpuPercent * factor).toFixed(0)
          } % of one core, ` +
          `RSS ≈ ${Math.round(proxy.baselineRssMB + (proxy.rssPerConnectionKB * targetSources) / 1000)} MB.`
      )
    }
  }
  notes.push(
    "Many sources: set-up is from the first source's dial to the last destination connection accepted (the sources dial 256 at a time). " +
      `Idle RSS is taken ${
        sizes.manyIdleMs / 1000
      } s after everything is up, before anything is sent; then each source sends a 64-byte message per second for ${
        sizes.manyDurationMs / 1000
      } s, spread evenly over the second, and RSS is taken again. ` +
      "RSS per source connection is (RSS − RSS before any source connected) / sources; KB = 1000 bytes. The largest count runs once."
  )
}

if (only.includes("stalled")) {
  const options = sizes.stalled
  const scenario = "stalled destination 1→3"
  const results = await repeat(scenario, ["reference", "proxy"], runs, (kind) => stalledRun(kind, true, options))
  const baseline = await repeat("healthy only 1→2 (timed)", ["proxy"], runs, (kind) => stalledRun(kind, false, options))
  figure(
    scenario,
    `MB/s to the 2 healthy ones, first ${options.writeTimeout} (before the cut)`,
    results,
    (r) => r.beforeMBps,
    0
  )
  figure(
    scenario,
    `MB/s to the 2 healthy ones, after --write-timeout ${options.writeTimeout}`,
    results,
    (r) => r.afterMBps,
    0
  )
  rows.push({
    scenario,
    figure: "after-cut MB/s / MB/s with only the 2 healthy ones (proxy)",
    digits: 2,
    noRatio: true,
    proxy: summarize(results.proxy.map((r, i) => r.afterMBps / (baseline.proxy[i]?.afterMBps ?? Number.NaN))),
    ...proxyAtLeast(0.9)
  })
  figure(scenario, "peak RSS, MB", results, (r) => r.peakRssMB, 0, proxyAtMost(300, "MB", "<"))
  notes.push(
    `Stalled: one destination accepts and never reads; the proxy runs with --write-timeout ${options.writeTimeout}. "After" is measured from ${options.settleMs} ms past the timeout for ${
      options.afterMs / 1000
    } s. The reference has no timeout: it stalls for good.`
  )
}

if (only.includes("heap")) {
  const scenario = "heap per idle session 1×2"
  const results = {}
  for (const kind of ["reference", "proxy"]) {
    log(`${scenario}: ${kind}, ${heapSessions} sessions`)
    results[kind] = [
      await heapRun(kind, quick ? { sessions: heapSessions, warm: 2, settleMs: 300 } : { sessions: heapSessions })
    ]
  }
  raw[scenario] = results
  const structure = (kind) => [structureCounts(results[kind][0])]
  const counts = { proxy: structure("proxy"), reference: structure("reference") }
  figure(scenario, "heap (live objects' self sizes), KiB", results, (r) => r.heapBytesPerSession / 1024, 1)
  figure(scenario, "fibers", counts, (c) => c.fibers.count, 1, { noRatio: true })
  figure(scenario, "scopes", counts, (c) => c.scopes.count, 1, { noRatio: true })
  figure(scenario, "closures", counts, (c) => c.closures.count, 0)
  figure(scenario, "closure contexts", counts, (c) => c.contexts.count, 0)
  const markdown = heapMarkdown([results.proxy[0], results.reference[0]])
  writeFileSync(path.join(repoRoot, "bench", "results", `${outName}.heap.md`), markdown + "\n")
  notes.push(
    `Heap: ${heapSessions} idle sessions, the difference of two heap snapshots of the fan-out process (taken before and after opening them, a few sessions already open) per session; ` +
      `the breakdown by type is in bench/results/${outName}.heap.md.`
  )
}

if (only.includes("startup")) {
  const scenario = "start-up"
  const times = quick ? 1 : Math.max(runs, 5)
  // The first run of each fills tsx's compile cache; it counts like the others (a fresh clone pays it once).
  const listening = await repeat(
    "start-up: until listening",
    ["reference", "proxy", "tsxLoader"],
    times,
    (kind) => startupRun(kind, "listening")
  )
  const help = await repeat("start-up: --help", ["reference", "proxy"], times, (kind) => startupRun(kind, "help"))
  figure(scenario, "s until listening: npx tsx src/main.ts proxy / the one-file build", listening, (r) => r.seconds, 2)
  rows.push({
    scenario,
    figure: "s until listening: node --import tsx src/main.ts proxy",
    digits: 2,
    noRatio: true,
    proxy: summarize(listening.tsxLoader.map((r) => r.seconds))
  })
  figure(scenario, "s until --help has printed: npx tsx src/main.ts / the one-file build", help, (r) => r.seconds, 2)
  notes.push(
    `Start-up: ${times} run(s) of each, interleaved; "proxy" is the README's \`npx tsx src/main.ts\`, "reference" the one-file build (\`node dist/socket-proxy.mjs\`, built from the same sources first); listening means the "listening on" line is out. Targets: listening within 2 s, --help within 1.5 s.`
  )
}

machine.loadAfter = loadAverage()
const results = {
  date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
  durationSeconds: Math.round((Date.now() - started) / 1000),
  machine,
  settings: { mode: quick ? "quick" : "full", runs, only, sizes, heapSessions, proxyCommand: proxyEntryLabel },
  rows,
  notes: [
    ...notes,
    `The proxy runs as its own process: \`${proxyEntryLabel} --listen 127.0.0.1:0 --dest ...\`${
      process.env.BENCH_PROXY_ENTRY ? "" : " (TypeScript is compiled when loaded; run time is plain node)"
    }, except where a row says "one-file build".`,
    ...(runs < 3 && !quick ? [`Only ${runs} run(s) per figure: the targets call for medians of at least 3.`] : [])
  ],
  raw
}

removeBundle()
const dir = path.join(repoRoot, "bench", "results")
const table = markdownTable(results)
writeFileSync(path.join(dir, `${outName}.json`), JSON.stringify(results, null, 2) + "\n")
writeFileSync(path.join(dir, `${outName}.md`), table + "\n")
writeFileSync(path.join(dir, `${outName}.svg`), svgPlot(results))
// A full run also refreshes the table in BENCHMARKS.md (between its markers), so the doc shows the latest run.
const doc = path.join(repoRoot, "BENCHMARKS.md")
const start = "<!-- bench:table:start -->"
const end = "<!-- bench:table:end -->"
if (outName === "latest" && !quick && existsSync(doc)) {
  const text = readFileSync(doc, "utf8")
  const from = text.indexOf(start)
  const to = text.indexOf(end)
  if (from >= 0 && to > from) {
    writeFileSync(doc, `${text.slice(0, from + start.length)}\n${table}\n${text.slice(to)}`)
    log("refreshed the table in BENCHMARKS.md")
  }
}
process.stdout.write(table + "\n")
log(`done in ${results.durationSeconds} s; wrote bench/results/${outName}.{json,md,svg}`)

// Heap cost of an idle session (1 source x 2 destinations), by constructor/type, for
// the proxy as its own process (through its CLI only) and for the reference.
//
// The fan-out runs with `--expose-gc --heapsnapshot-signal=SIGUSR2`; the probe opens
// `warm` idle sessions, waits until both destinations have accepted all of theirs,
// lets it settle, has the process write a heap snapshot (V8 collects garbage first,
// so only live objects are in it), opens `sessions` more and takes a second one. The
// difference of the two, divided by `sessions`, is what one more idle session holds:
// one-time costs (first connection, lazy initialisation) are in both and cancel out.
//
//   node bench/probe/heapBreakdown.mjs [--sessions N] [--warm W] [--out FILE.md] [--kinds proxy,reference]
//
// prints (and with --out writes) a markdown table. `npm run bench` runs it too (scenario "heap").
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { commitLabel } from "../lib/git.mjs"
import { diffPer, summarizeSnapshot } from "../lib/heapsnapshot.mjs"
import { rss } from "../lib/procstat.mjs"
import { proxyEntryLabel, repoRoot, startServer } from "../lib/servers.mjs"
import { sleep } from "../lib/stats.mjs"

/** A destination that accepts, reads and discards; counts what it accepted. */
const startSink = () =>
  new Promise((resolve) => {
    const sockets = new Set()
    const sink = { accepted: 0, port: 0, close: () => {} }
    const server = net.createServer((socket) => {
      sink.accepted++
      sockets.add(socket)
      socket.on("error", () => {})
      socket.on("close", () => sockets.delete(socket))
      socket.resume()
    })
    sink.close = () => {
      for (const socket of sockets) socket.destroy()
      server.close()
    }
    server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, () => {
      sink.port = server.address().port
      resolve(sink)
    })
  })

/** Opens `count` idle sources to `port`, at most 100 connecting at a time. */
const openSources = async (port, count, into) => {
  let next = 0
  const one = () =>
    new Promise((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port }, () => resolve(socket))
      socket.once("error", reject)
    })
  const lane = async () => {
    while (next < count) {
      next++
      const socket = await one()
      socket.on("error", () => {})
      into.push(socket)
    }
  }
  await Promise.all(Array.from({ length: Math.min(100, count) }, lane))
}

const waitFor = async (what, test, ms) => {
  const deadline = Date.now() + ms
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`heap probe: timed out after ${ms} ms waiting for ${what}`)
    await sleep(50)
  }
}

/** Has the process write a heap snapshot into `dir`; resolves with its path once it is complete. */
const takeSnapshot = async (server, dir) => {
  const known = new Set(readdirSync(dir))
  server.signal("SIGUSR2")
  let file
  let lastSize = -1
  let stable = 0
  const deadline = Date.now() + 180_000
  while (Date.now() < deadline) {
    await sleep(100)
    file ??= readdirSync(dir).find((name) => name.endsWith(".heapsnapshot") && !known.has(name))
    if (file === undefined) continue
    const size = statSync(path.join(dir, file)).size
    stable = size === lastSize && size > 0 ? stable + 1 : 0
    lastSize = size
    if (stable >= 1) {
      const tail = readFileSync(path.join(dir, file)).subarray(-16).toString("latin1").trimEnd()
      if (tail.endsWith("]}")) return path.join(dir, file)
    }
  }
  throw new Error("heap probe: the heap snapshot did not complete within 180 s")
}

/** Paths of this machine (in module caches' keys, say) are written as <repo>, <tmp>, <home>. */
const redact = (text) =>
  text.replaceAll(`file://${repoRoot}/`, "").replaceAll(`${repoRoot}/`, "").replaceAll(repoRoot, "<repo>").replaceAll(
    os.tmpdir(),
    "<tmp>"
  ).replaceAll(os.homedir(), "<home>")

/** The `limit` rows that changed most per session (by bytes either way), redacted. */
const topRows = (rows, limit = 40) =>
  rows
    .filter((r) => Math.abs(r.bytes) >= 1 || Math.abs(r.count) >= 0.01)
    .sort((a, b) => Math.abs(b.bytes) - Math.abs(a.bytes))
    .slice(0, limit)
    .sort((a, b) => b.bytes - a.bytes)
    .map((r) => ({ ...r, key: redact(r.key) }))

/**
 * Runs the probe against `kind` ("proxy", "bundle" or "reference"): returns per-session
 * heap bytes (total and by category, plain-object shape and closure name) and RSS.
 */
export const heapRun = async (kind, { sessions, warm = 10, settleMs = 1000 }) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "socket-proxy-heap-"))
  const sinks = await Promise.all([startSink(), startSink()])
  let server
  try {
    server = await startServer(kind, sinks.map((sink) => sink.port), [], {
      nodeFlags: ["--expose-gc", "--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${dir}`]
    })
  } catch (error) {
    for (const sink of sinks) sink.close()
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
  const sources = []
  const upTo = async (count) => {
    await openSources(server.port, count - sources.length, sources)
    await waitFor(`${count} x 2 destination connections`, () => sinks.every((sink) => sink.accepted >= count), 120_000)
    await sleep(settleMs)
  }
  try {
    await upTo(warm)
    const rssBefore = rss(server.pid)
    const fileBefore = await takeSnapshot(server, dir)
    const before = summarizeSnapshot(fileBefore)
    rmSync(fileBefore)
    await upTo(warm + sessions)
    const rssAfter = rss(server.pid)
    const fileAfter = await takeSnapshot(server, dir)
    const after = summarizeSnapshot(fileAfter)
    rmSync(fileAfter)
    if (sinks.some((sink) => sink.accepted !== warm + sessions)) {
      throw new Error(
        `heap probe: destinations accepted ${sinks.map((s) => s.accepted).join(" and ")} connections, not ${
          warm + sessions
        } each (reconnects?)`
      )
    }
    const categories = diffPer(before.categories, after.categories, sessions)
    const shapes = diffPer(before.shapes, after.shapes, sessions)
    return {
      kind,
      sessions,
      warm,
      heapBytesPerSession: (after.totalBytes - before.totalBytes) / sessions,
      // Not printed: the first snapshot's own allocations inflate RSS; the many-sources scenario measures RSS.
      rssBytesPerSession: (rssAfter - rssBefore) / sessions,
      structure: structureOf(categories, shapes),
      categories: topRows(categories),
      shapes: topRows(shapes),
      closures: topRows(diffPer(before.closures, after.closures, sessions)),
      closureFiles: topRows(diffPer(before.closureFiles, after.closureFiles, sessions))
    }
  } finally {
    for (const socket of sources) socket.destroy()
    await server.stop()
    for (const sink of sinks) sink.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const find = (rows, key) => rows.find((r) => r.key === key) ?? { count: 0, bytes: 0 }
const sumWhere = (rows, test) =>
  rows.filter((r) => test(r.key)).reduce((sum, r) => ({ count: sum.count + r.count, bytes: sum.bytes + r.bytes }), {
    count: 0,
    bytes: 0
  })

/** What the Effect runtime's structures per session add up to (by constructor or by own properties). */
const structureOf = (categories, shapes) => ({
  fibers: find(categories, "FiberRuntime"),
  closures: find(categories, "(closure)"),
  contexts: find(categories, "system / Context"),
  // effect 3.x: a Scope is Object.create(ScopeImplProto) with own properties strategy and state.
  scopes: find(shapes, "Object {state, strategy}"),
  // a Deferred is an object literal carrying the effect/Deferred type id (and the Commit prototype's).
  deferreds: sumWhere(shapes, (key) => key.includes("<symbol effect/Deferred>")),
  effectFrames: find(categories, "EffectPrimitive"),
  sockets: find(categories, "Socket")
})

/** The counts above, of a `heapRun` result. */
export const structureCounts = (result) => result.structure

const kb = (bytes) => (bytes / 1024).toFixed(2)
const n = (count) => (Math.abs(count) < 0.005 ? "0" : count.toFixed(2))

/** The markdown the probe prints: totals, Effect structure counts, top types, shapes and closures. */
export const heapMarkdown = (results, { date = new Date(), top = 15 } = {}) => {
  const kinds = results.map((r) => r.kind)
  const label = { proxy: "proxy", bundle: "one-file build", reference: "reference" }
  const what = {
    proxy: `proxy: \`${redact(proxyEntryLabel)}\``,
    bundle: "one-file build: `node dist/socket-proxy.mjs proxy` (`npm run build`)",
    reference: "reference: `node bench/reference.mjs`"
  }
  const head = (first) => [
    `| ${first} | ${kinds.map((k) => `${label[k]}: count | ${label[k]}: bytes`).join(" | ")} |`,
    `|---|${kinds.map(() => "---:|---:").join("|")}|`
  ]
  const lines = [
    `Heap per idle session (1 source × 2 destinations): the difference of two heap snapshots of the running process ` +
    `(\`--heapsnapshot-signal\`; V8 collects garbage before each), taken with ${results[0].warm} and ${
      results[0].warm + results[0].sessions
    } ` +
    `idle sessions, divided by ${
      results[0].sessions
    }. Counts and bytes are per session; bytes are V8's self sizes (what the object itself ` +
    `occupies, not what it keeps alive); memory outside V8's heap (Buffers' contents, libuv handles, kernel socket buffers) is not in them, RSS is. ${
      kinds.map((k) => what[k]).join("; ")
    }. ` +
    `Commit ${commitLabel()}, ${
      date.toISOString().slice(0, 16).replace("T", " ")
    } UTC, Node ${process.version}, ${os.cpus().length} CPUs, load average ${
      os.loadavg().map((l) => l.toFixed(2)).join(" ")
    }.`,
    "",
    `| per session | ${kinds.map((k) => label[k]).join(" | ")} |`,
    `|---|${kinds.map(() => "---:").join("|")}|`,
    `| heap (self sizes of live objects), KiB | ${results.map((r) => kb(r.heapBytesPerSession)).join(" | ")} |`
  ]
  const structure = results.map(structureCounts)
  const names = [
    ["fibers (FiberRuntime)", "fibers"],
    ["scopes (objects {state, strategy})", "scopes"],
    ["Deferreds (objects carrying effect/Deferred)", "deferreds"],
    ["EffectPrimitive (effects, continuation frames)", "effectFrames"],
    ["closures", "closures"],
    ["closure contexts (system / Context)", "contexts"],
    ["net.Socket", "sockets"]
  ]
  for (const [title, key] of names) {
    lines.push(
      `| ${title}: count (KiB) | ${structure.map((s) => `${n(s[key].count)} (${kb(s[key].bytes)})`).join(" | ")} |`
    )
  }
  const table = (title, pick, first, limit) => {
    const keys = []
    for (const r of results) for (const row of pick(r).slice(0, limit)) if (!keys.includes(row.key)) keys.push(row.key)
    const primary = pick(results[0])
    keys.sort((a, b) => find(primary, b).bytes - find(primary, a).bytes)
    lines.push("", title, "", ...head(first))
    for (const key of keys.slice(0, limit)) {
      lines.push(
        `| ${key.replace(/\|/g, "\\|")} | ${
          results.map((r) => `${n(find(pick(r), key).count)} | ${Math.round(find(pick(r), key).bytes)}`).join(" | ")
        } |`
      )
    }
  }
  table(
    `Top ${top} types by bytes per session (objects by constructor, the rest by kind, as in DevTools' summary):`,
    (r) => r.categories,
    "type",
    top
  )
  table("Plain objects by their own property names, top 10:", (r) => r.shapes, "object", 10)
  table("Closures by the file that defines them, top 10:", (r) => r.closureFiles, "file", 10)
  table(
    "Closures by function and where it is defined (line:column of the code as loaded; through tsx that is esbuild's output of the file, whose lines stay close to the source), top 15:",
    (r) => r.closures,
    "function",
    15
  )
  return lines.join("\n")
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const option = (name, fallback) => {
    const at = args.indexOf(name)
    return at >= 0 ? args[at + 1] : fallback
  }
  const sessions = Number(option("--sessions", "1000"))
  const warm = Number(option("--warm", "10"))
  const out = option("--out")
  const kinds = option("--kinds", "proxy,reference").split(",")
  const results = []
  for (const kind of kinds) {
    process.stderr.write(`heap probe: ${kind}, ${warm} + ${sessions} idle sessions\n`)
    results.push(await heapRun(kind, { sessions, warm }))
  }
  const markdown = heapMarkdown(results)
  if (out !== undefined) writeFileSync(out, markdown + "\n")
  process.stdout.write(markdown + "\n")
  if (kinds.includes("bundle")) (await import("../lib/bundle.mjs")).removeBundle()
}

/**
 * The soak: the proxy as its own process (`node --import tsx src/main.ts proxy`), destination
 * processes that check every byte, source processes that send records, and a
 * seeded fault schedule. After each round: data flows again to every live
 * destination, integrity holds, nothing leaked. At the end: every source closes,
 * every link is balanced and checked, and the proxy is back to its baseline.
 */
import { Duration, Effect, Fiber } from "effect"
import type { Scope } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Condition } from "../test/support/Condition.js"
import type { Fault } from "./FaultSchedule.js"
import { describeFault, drawRound, prng } from "./FaultSchedule.js"
import type { DestinationGeneration, DestinationSegment, LedgerResult, ProxyClose, SourceConnection } from "./Ledger.js"
import { checkLedger } from "./Ledger.js"
import type { LeakReading } from "./Leaks.js"
import { leaksIn as findLeaks, metricOf, proxyRoute } from "./Leaks.js"
import type { Scrape } from "./Metrics.js"
import { metricKey, scrape } from "./Metrics.js"
import type { DestinationCommand, DestinationEvent, SourceCommand, SourceEvent } from "./peers/Wire.js"
import { openSockets, residentBytes } from "./ProcStats.js"
import type { Child } from "./Processes.js"
import { proxyFeatures, spawnPeer, spawnProxy } from "./Processes.js"
import type { LogLine } from "./ProxyLog.js"
import { connectionClosed, listeningPort, parseLogLine } from "./ProxyLog.js"

/** The proxy's --buffer, its read window per source (README: bounded memory), and room for V8's heap to grow. */
const proxyBufferBytes = 1024 * 1024
const readWindowBytes = 256 * 1024
const heapRoomBytes = 128 * 1024 * 1024

export interface SoakOptions {
  readonly seed: number
  /** Stop starting rounds after this many... */
  readonly rounds: number
  /** ...or after this long, whichever comes first. */
  readonly duration: Duration.Duration
  readonly sourceGroups: number
  readonly connectionsPerGroup: number
  readonly destinations: number
  readonly recordsPerSecond: number
  readonly meanPayload: number
  /** The proxy's `--write-timeout`. */
  readonly writeTimeout: Duration.Duration
  /** Added to every bound the README states, for a loaded machine. */
  readonly loadMargin: Duration.Duration
  /**
   * `u32be`: the proxy runs with `--framing u32be` and every record goes after its
   * length (issue 13); then no destination connection may start inside a record,
   * nor end cleanly inside one unless its link dropped bytes or its source did not end cleanly.
   */
  readonly framing?: "none" | "u32be"
  readonly log: (line: string) => void
}

export interface Sample {
  readonly at: number
  readonly rssBytes: number
  readonly bytesPerSecond: number
}

export interface SoakReport {
  readonly seed: number
  readonly rounds: number
  readonly elapsed: Duration.Duration
  /** Empty when the soak passed; else what failed, each naming the fault. */
  readonly failures: ReadonlyArray<string>
  readonly ledger: LedgerResult
  readonly bytesSent: number
  readonly sourceConnections: number
  readonly unverifiableSources: number
  /** Reloads the proxy applied ("reloaded" lines). */
  readonly reloads: number
  /** Longest wait, after a round's faults, until sources connected before it flowed again to every destination. */
  readonly maxRecovery: Duration.Duration
  /** Longest wait until every source, including those that (re)connected during the round, flowed to every destination. */
  readonly maxColdStart: Duration.Duration
  readonly samples: ReadonlyArray<Sample>
  readonly baseline: { readonly sockets: number; readonly fibers: number | undefined; readonly rssBytes: number }
  readonly final: { readonly sockets: number; readonly fibers: number | undefined; readonly rssBytes: number }
  readonly metrics: boolean
}

/** A check that did not hold: ends the soak with its message. */
class SoakFailure extends Error {}

const fail = (message: string) => Effect.die(new SoakFailure(message))

interface SourceState extends SourceConnection {
  readonly group: number
  /** Its own end, `address:port`: the proxy's `peer` for it. */
  readonly peer: string
  readonly proxyGeneration: number
  written: number
  closedAt: number | undefined
  close: ProxyClose | undefined
  closeSeenAt: number | undefined
}

interface DestinationState {
  readonly index: number
  port: number
  generation: number
  child: Child | undefined
  listening: boolean
  /** Highest stream offset received per source id (any connection, any run). */
  readonly reached: Map<number, number>
  /** Source ids on open connections, as of the last progress event. */
  openIds: Set<number>
  progressAt: number
  /** In the route's destinations: a reload fault removes it and adds it back. */
  present: boolean
  /** When a reload removed it (ms). */
  removedAt: number | undefined
}

interface GroupState {
  readonly index: number
  generation: number
  /** The generation whose process runs now; undefined from the moment it is killed. */
  running: number | undefined
  child: Child | undefined
  stopped: boolean
}

const freePort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen({ host: "127.0.0.1", port: 0 }, () => {
    const port = (server.address() as net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** The second route's name, which the reload fault adds and removes. */
const spareRoute = "spare"

/** A destination a reload removed is added back no sooner: its old links are done by then. */
const readdAfterMillis = 6_000

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`

export const runSoak = (options: SoakOptions): Effect.Effect<SoakReport, never, Scope.Scope> =>
  Effect.gen(function*() {
    const startedAt = Date.now()
    const framed = options.framing === "u32be"
    const changed = new Condition()
    const random = prng(options.seed)
    const margin = Duration.toMillis(options.loadMargin)
    const log = options.log
    const children = new Set<Child>()
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const child of children) child.signal("SIGKILL")
      })
    )

    // ----- state fed by the children's events
    const sources = new Map<number, SourceState>()
    const sourcesByPeer = new Map<string, Array<number>>()
    const segments: Array<DestinationSegment> = []
    const generations: Array<{ destination: number; generation: number; killedAt: number | undefined }> = []
    const violations: Array<string> = []
    let closedWritten = 0
    let sourceConnections = 0
    let unverifiableSources = 0
    const evaluatedCloses: Array<ProxyClose> = []
    /**
     * Close lines no known source matched, by peer: a source's events come on
     * another pipe than the proxy's lines, so a short-lived connection may be closed
     * before the soak hears it was opened. Adopted when it is; after a while, taken
     * for a connection that sent no records (silent, burst: they connect from
     * 127.0.0.1, sources from addresses of their own).
     */
    const earlyCloses = new Map<string, { readonly close: ProxyClose; readonly at: number }>()
    const earlyCloseMillis = 10_000
    const settleEarlyCloses = (all: boolean) => {
      const now = Date.now()
      for (const [peer, early] of earlyCloses) {
        if (!all && early.at > now - earlyCloseMillis) continue
        evaluatedCloses.push(early.close)
        earlyCloses.delete(peer)
      }
    }
    const ledgerTotals = {
      linksChecked: 0,
      linksExact: 0,
      bytesReceived: 0,
      bytesDelivered: 0,
      bytesDropped: 0,
      bytesGiven: 0
    }
    const ledgerViolations: Array<string> = []

    const features = yield* proxyFeatures
    const proxy = {
      generation: 0,
      child: undefined as Child | undefined,
      port: 0,
      /** 0 until the first run reports the port it bound; restarts come back on it. */
      metricsPort: 0,
      listening: false,
      /** "connection opened" lines of this run of the proxy. */
      opened: 0,
      metrics: features.metrics,
      pid: undefined as number | undefined,
      unexpectedExit: undefined as string | undefined,
      /** "reloaded" lines, of any run. */
      reloads: 0
    }
    // Run from a file when the proxy has --config, so that reloads can be a fault.
    const configFile = features.config
      ? path.join(
        yield* Effect.acquireRelease(
          Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "socket-proxy-soak-"))),
          (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
        ),
        "soak.json"
      )
      : undefined
    /** A second route a reload fault adds and removes; no source uses it, a probe checks that it listens. */
    const spare = { present: false, port: 0, listening: false }
    const reloadFailures: Array<string> = []
    /** Peers (destinations, source groups) that exited without the soak killing them: the harness's own failures. */
    const peerExits: Array<string> = []
    /** Set once the soak is over: its scope kills every peer. */
    const peersDone = { value: false }
    const destinations: Array<DestinationState> = []
    const groups: Array<GroupState> = []
    const destinationName = (index: number) => `127.0.0.1:${destinations[index]!.port}`

    // The proxy's last lines per peer, for a failure to show what the proxy said about a source.
    const linesByPeer = new Map<string, Array<string>>()
    const remember = (parsed: LogLine, line: string) => {
      const peer = parsed.annotations["peer"]
      if (typeof peer !== "string") return
      const lines = linesByPeer.get(peer) ?? []
      linesByPeer.delete(peer)
      linesByPeer.set(peer, lines)
      lines.push(line.length > 400 ? `${line.slice(0, 400)}...` : line)
      if (lines.length > 12) lines.shift()
      if (linesByPeer.size > 20_000) linesByPeer.delete(linesByPeer.keys().next().value!)
    }
    const describeSource = (sourceId: number) => {
      const source = sources.get(sourceId)
      if (source === undefined) return `source ${sourceId}: no longer tracked`
      const age = (at: number | undefined) => at === undefined ? "never" : `${Date.now() - at}ms ago`
      return `source ${sourceId} (group ${source.group}, from ${source.peer}, proxy run ${source.proxyGeneration} of ${proxy.generation}, wrote ${source.written} B, closed ${
        age(source.closedAt)
      }, proxy's close line ${age(source.closeSeenAt)}${
        source.close === undefined ? "" : `: ${JSON.stringify(source.close)}`
      }); the proxy's lines for it:\n      ${(linesByPeer.get(source.peer) ?? []).join("\n      ")}`
    }
    const describeDestinations = () =>
      destinations.map((d) =>
        `destination ${d.index} (run ${d.generation}, last progress ${Date.now() - d.progressAt}ms ago): ${
          d.openIds.size === 0
            ? "no open connections"
            : `open connections of ${[...d.openIds].map(describeSource).join("; ")}`
        }`
      ).join("\n  ")

    const onProxyLine = (generation: number) => (line: string) => {
      if (generation !== proxy.generation) return
      const parsed = parseLogLine(line)
      if (parsed.message.startsWith("reloaded ")) proxy.reloads++
      if (parsed.message.startsWith("reload (")) reloadFailures.push(parsed.message)
      const port = listeningPort(parsed)
      if (port !== undefined && parsed.annotations["route"] === spareRoute) {
        spare.listening = true
        changed.notify()
        return
      }
      if (port !== undefined) {
        proxy.port = port
        proxy.listening = true
        changed.notify()
        return
      }
      const metrics = parsed.message.match(/^metrics and health on http:\/\/\S*:(\d+)/)
      if (metrics !== null) proxy.metricsPort = Number(metrics[1])
      if (parsed.message === "connection opened") proxy.opened++
      remember(parsed, line)
      const closed = connectionClosed(parsed)
      if (closed === undefined) return
      const candidates = sourcesByPeer.get(closed.peer) ?? []
      const sourceId = candidates.find((id) => sources.get(id)?.close === undefined)
      const close: ProxyClose = {
        sourceId,
        peer: closed.peer,
        bytesIn: closed.bytesIn,
        links: (closed.links ?? []).map((link) => ({
          ...link,
          destination: destinations.findIndex((_, i) => destinationName(i) === link.destination)
        }))
      }
      const source = sourceId === undefined ? undefined : sources.get(sourceId)
      if (source === undefined) {
        const earlier = earlyCloses.get(closed.peer)
        if (earlier !== undefined) evaluatedCloses.push(earlier.close)
        earlyCloses.set(closed.peer, { close, at: Date.now() })
      } else {
        source.close = close
        source.closeSeenAt = Date.now()
      }
      changed.notify()
    }

    const startProxy = Effect.gen(function*() {
      proxy.generation++
      proxy.listening = false
      proxy.opened = 0
      const generation = proxy.generation
      spare.listening = false
      const args = configFile !== undefined ? ["--config", configFile] : [
        "--listen",
        `127.0.0.1:${proxy.port}`,
        ...destinations.flatMap((d) => ["--dest", `127.0.0.1:${d.port}`]),
        "--write-timeout",
        `${Duration.toMillis(options.writeTimeout)}ms`,
        "--buffer",
        String(proxyBufferBytes)
      ]
      if (configFile !== undefined) writeConfig(configFile)
      else if (framed) args.push("--framing", "u32be")
      if (features.jsonLogs) args.push("--log-format", "json")
      if (proxy.metrics) args.push("--metrics", `127.0.0.1:${proxy.metricsPort}`)
      const child = yield* spawnProxy(args, onProxyLine(generation), () => {
        if (generation === proxy.generation && !stopping.proxy) {
          proxy.unexpectedExit = `the proxy exited by itself: ${JSON.stringify(child.exit())}\n${child.stderrTail()}`
        }
        changed.notify()
      })
      children.add(child)
      proxy.child = child
      yield* waitFor(
        () => proxy.listening || proxy.unexpectedExit !== undefined,
        Duration.seconds(30 + margin / 1000),
        () => `the proxy did not print "listening on" within ${30 + margin / 1000}s\n${child.stderrTail()}`
      )
      if (proxy.unexpectedExit !== undefined) return yield* fail(proxy.unexpectedExit)
      proxy.pid = child.pid
    })

    const stopping = { proxy: false }

    /** The file as the soak's state says: the route with the destinations present, and the spare route. */
    const writeConfig = (file: string) => {
      const present = destinations.filter((d) => d.present).map((d) => destinationName(d.index))
      const routes = [{ name: proxyRoute, listen: `127.0.0.1:${proxy.port}`, destinations: present }]
      if (spare.present) routes.push({ name: spareRoute, listen: `127.0.0.1:${spare.port}`, destinations: present })
      const text = JSON.stringify(
        {
          "write-timeout": `${Duration.toMillis(options.writeTimeout)}ms`,
          buffer: String(proxyBufferBytes),
          ...(framed ? { framing: "u32be" } : {}),
          routes
        },
        null,
        2
      )
      // As editors write: a new file renamed over the old one.
      fs.writeFileSync(`${file}.tmp`, text)
      fs.renameSync(`${file}.tmp`, file)
    }

    /** Edits the file to the soak's state and reloads it (SIGHUP; the proxy's watch may see the edit first). */
    const reload = Effect.suspend(() => {
      const before = proxy.reloads
      const failed = reloadFailures.length
      writeConfig(configFile!)
      proxy.child?.signalLeader("SIGHUP")
      return waitFor(
        () => proxy.reloads > before || reloadFailures.length > failed || proxy.unexpectedExit !== undefined,
        Duration.sum(Duration.seconds(10), options.loadMargin),
        () => "the proxy logged no \"reloaded\" line after its file was edited and it was sent SIGHUP"
      ).pipe(
        Effect.zipRight(Effect.suspend(() =>
          reloadFailures.length > failed
            ? fail(`the proxy refused the soak's reload: ${reloadFailures.at(-1)}`)
            : Effect.void
        ))
      )
    })

    /** Whether 127.0.0.1:`port` accepts a connection (closed at once). */
    const accepts = (port: number) =>
      Effect.async<boolean>((resume) => {
        const socket = net.connect({ host: "127.0.0.1", port })
        socket.on("connect", () => {
          socket.destroy()
          resume(Effect.succeed(true))
        })
        socket.on("error", () => resume(Effect.succeed(false)))
      })

    const killProxy = Effect.sync(() => {
      stopping.proxy = true
      proxy.child?.signal("SIGKILL")
      proxy.listening = false
    })

    const waitFor = (predicate: () => boolean, within: Duration.Duration, describe: () => string) =>
      changed.waitUntil(predicate).pipe(
        Effect.timeoutOption(within),
        Effect.flatMap((done) => (done._tag === "Some" ? Effect.void : fail(describe())))
      )

    /** For what no event tells (the proxy's /proc entries, its metrics): re-check every 200 ms. */
    const poll = <A>(
      read: Effect.Effect<A>,
      ok: (a: A) => boolean,
      within: Duration.Duration,
      describe: (last: A) => string
    ): Effect.Effect<A> =>
      Effect.gen(function*() {
        const deadline = Date.now() + Duration.toMillis(within)
        while (true) {
          const value = yield* read
          if (ok(value)) return value
          if (Date.now() > deadline) return yield* fail(describe(value))
          yield* Effect.sleep(Duration.millis(200))
        }
      })

    // ----- destinations
    const onDestinationLine = (destination: DestinationState, generation: number) => (line: string) => {
      const event = JSON.parse(line) as DestinationEvent
      switch (event.e) {
        case "listening":
          if (generation === destination.generation) destination.listening = true
          break
        case "violation":
          violations.push(`destination ${destination.index}: ${event.message}`)
          break
        case "segment": {
          const { e: _e, ...segment } = event
          segments.push({ ...segment, destination: destination.index, generation })
          if (segment.sourceId !== undefined) {
            const reached = destination.reached.get(segment.sourceId) ?? 0
            if (segment.endOffset > reached) destination.reached.set(segment.sourceId, segment.endOffset)
          }
          break
        }
        case "progress":
          if (generation !== destination.generation) break
          for (const [id, offset] of event.open) {
            if (offset > (destination.reached.get(id) ?? 0)) destination.reached.set(id, offset)
          }
          destination.openIds = new Set(event.open.map(([id]) => id))
          destination.progressAt = Date.now()
          break
      }
      changed.notify()
    }

    const startDestination = (destination: DestinationState) =>
      Effect.gen(function*() {
        destination.generation++
        destination.listening = false
        const generation = destination.generation
        generations.push({ destination: destination.index, generation, killedAt: undefined })
        const child = yield* spawnPeer(
          "destination",
          `destination ${destination.index}`,
          { host: "127.0.0.1", port: destination.port, framed },
          onDestinationLine(destination, generation),
          () => {
            if (generation === destination.generation && destination.child !== undefined && !peersDone.value) {
              peerExits.push(
                `destination ${destination.index} exited by itself: ${
                  JSON.stringify(child.exit())
                }\n${child.stderrTail()}`
              )
            }
            changed.notify()
          }
        )
        children.add(child)
        destination.child = child
        yield* waitFor(
          () => destination.listening || child.exit() !== undefined,
          Duration.seconds(30 + margin / 1000),
          () => `destination ${destination.index} did not start listening\n${child.stderrTail()}`
        )
        if (!destination.listening) {
          return yield* fail(
            `destination ${destination.index} could not listen on port ${destination.port}: ${child.stderrTail()}`
          )
        }
      })

    const killDestination = (destination: DestinationState) =>
      Effect.sync(() => {
        destination.child?.signal("SIGKILL")
        destination.child = undefined
        destination.listening = false
        destination.openIds = new Set()
        const generation = generations.find((g) =>
          g.destination === destination.index && g.generation === destination.generation
        )
        if (generation !== undefined) generation.killedAt = Date.now()
      })

    // ----- sources
    const onSourceLine = (group: GroupState, generation: number) => (line: string) => {
      // Lines a killed process had written but we had not read yet describe
      // connections that died with it: counting them would leave ghosts.
      if (group.running !== generation) return
      const event = JSON.parse(line) as SourceEvent
      const now = Date.now()
      switch (event.e) {
        case "connected": {
          sourceConnections++
          sources.set(event.id, {
            sourceId: event.id,
            connectedAt: now,
            cleanlyEndedAfter: undefined,
            group: group.index,
            peer: `${event.address}:${event.port}`,
            proxyGeneration: proxy.generation,
            written: 0,
            closedAt: undefined,
            close: undefined,
            closeSeenAt: undefined
          })
          const peer = `${event.address}:${event.port}`
          const list = sourcesByPeer.get(peer) ?? []
          list.push(event.id)
          sourcesByPeer.set(peer, list)
          const early = earlyCloses.get(peer)
          if (early !== undefined && early.at > now - earlyCloseMillis) {
            earlyCloses.delete(peer)
            const source = sources.get(event.id)!
            source.close = { ...early.close, sourceId: event.id }
            source.closeSeenAt = now
          }
          break
        }
        case "closed": {
          const source = sources.get(event.id)
          if (source === undefined) break
          closedWritten += event.written
          source.written = event.written
          source.closedAt = now
          if (event.clean) sources.set(event.id, { ...source, cleanlyEndedAfter: event.written })
          break
        }
        case "progress":
          for (const [id, written] of event.written) {
            const source = sources.get(id)
            if (source !== undefined && source.closedAt === undefined) source.written = written
          }
          break
        case "stopped":
          group.stopped = true
          break
      }
      changed.notify()
    }

    const startGroup = (group: GroupState) =>
      Effect.gen(function*() {
        const generation = ++group.generation
        group.running = generation
        group.stopped = false
        const child = yield* spawnPeer(
          "source",
          `source group ${group.index}`,
          {
            host: "127.0.0.1",
            port: proxy.port,
            connections: options.connectionsPerGroup,
            idBase: (group.index + 1) * 100_000_000 + group.generation * 1_000_000,
            localNet: 16 + group.index,
            recordsPerSecond: options.recordsPerSecond,
            meanPayload: options.meanPayload,
            framed
          },
          onSourceLine(group, generation),
          () => {
            if (group.running === generation && !group.stopped && !peersDone.value) {
              peerExits.push(
                `source group ${group.index} exited by itself: ${JSON.stringify(child.exit())}\n${child.stderrTail()}`
              )
            }
            changed.notify()
          }
        )
        children.add(child)
        group.child = child
      })

    const killGroup = (group: GroupState) =>
      Effect.sync(() => {
        group.child?.signal("SIGKILL")
        group.running = undefined
        const now = Date.now()
        // Its connections are gone with it; nobody will report them closed.
        for (const source of sources.values()) {
          if (source.group === group.index && source.closedAt === undefined) {
            source.closedAt = now
            closedWritten += source.written
          }
        }
      })

    const openSources = () => [...sources.values()].filter((s) => s.closedAt === undefined)

    // ----- figures
    const samples: Array<Sample> = []
    const bytesSent = () => {
      let open = 0
      for (const source of sources.values()) if (source.closedAt === undefined) open += source.written
      return closedWritten + open
    }

    const proxyMetrics: Effect.Effect<Scrape | undefined> = Effect.suspend(() =>
      proxy.metrics
        ? scrape("127.0.0.1", proxy.metricsPort).pipe(Effect.orElseSucceed(() => undefined))
        : Effect.succeed(undefined)
    )

    // ----- the checks
    const recoveryBound = Duration.sum(Duration.sum(Duration.seconds(2), options.writeTimeout), options.loadMargin)
    /** Starting (many) new connections on a loaded machine: no README bound; as long as the warm-up may take. */
    const coldBound = Duration.sum(Duration.seconds(30), options.loadMargin)
    let maxRecovery = 0
    let maxColdStart = 0

    /** Every live destination receives bytes every open source wrote after now. */
    /**
     * A source that connected before the round's faults must get data through
     * within `recoveryBound`. One that (re)connected since (its group was killed,
     * it vanished, the proxy restarted) is a cold start the README states no bound
     * for: it gets `coldBound`.
     */
    const checkFlow = (round: number, roundStarted: number) =>
      Effect.gen(function*() {
        const since = Date.now()
        const owed = new Map(openSources().map((s) => [s.sourceId, s.written]))
        const isNew = (id: number) => (sources.get(id)?.connectedAt ?? 0) >= roundStarted
        const missing = (which: "existing" | "all") => {
          const lacking: Array<string> = []
          for (const destination of destinations) {
            // A destination a reload removed is owed nothing new.
            if (!destination.present) continue
            const ids: Array<number> = []
            for (const [id, written] of owed) {
              if (sources.get(id)?.closedAt !== undefined) continue
              if (which === "existing" && isNew(id)) continue
              if ((destination.reached.get(id) ?? 0) <= written) ids.push(id)
            }
            if (ids.length > 0) {
              lacking.push(
                `destination ${destination.index} got nothing new from ${ids.length} of ${owed.size} live sources (e.g. ${
                  ids.slice(0, 3).map((id) =>
                    `${id}${isNew(id) ? " (connected this round)" : ""}: had sent ${owed.get(id)} B, now ${
                      sources.get(id)?.written
                    } B, destination reached ${destination.reached.get(id) ?? 0}`
                  ).join("; ")
                })`
              )
            }
          }
          return lacking
        }
        for (const [which, bound] of [["existing", recoveryBound], ["all", coldBound]] as const) {
          const flowed = yield* changed.waitUntil(() =>
            missing(which).length === 0 || proxy.unexpectedExit !== undefined
          ).pipe(
            Effect.timeoutOption(Duration.millis(Math.max(0, since + Duration.toMillis(bound) - Date.now())))
          )
          if (proxy.unexpectedExit !== undefined) return yield* fail(proxy.unexpectedExit)
          if (flowed._tag === "Some") {
            const took = Date.now() - since
            if (round > 0 && which === "existing") maxRecovery = Math.max(maxRecovery, took)
            if (which === "all") maxColdStart = Math.max(maxColdStart, took)
            continue
          }
          // Say what the proxy thinks of each destination: down and not redialled, or connected and not delivering.
          const metrics = yield* proxyMetrics
          const view = destinations.map((d) => {
            const labels = { destination: destinationName(d.index), route: proxyRoute }
            const open = metrics?.get(metricKey("socket_proxy_destination_connections_open", labels))
            const reconnects = metrics?.get(metricKey("socket_proxy_destination_reconnects_total", labels))
            return `destination ${d.index}: ${open ?? "?"} connections open, ${reconnects ?? "?"} reconnects`
          })
          return yield* fail(
            `round ${round}: data did not flow again within ${Duration.format(bound)} to ${
              which === "existing" ? "sources connected before the round" : "sources that connected during the round"
            } (README: redialled destinations receive within 2s, a stalled one is cut after --write-timeout ${
              Duration.format(options.writeTimeout)
            }; plus ${Duration.format(options.loadMargin)} for load; a new connection gets ${
              Duration.format(coldBound)
            }; this run of the proxy has logged ${proxy.opened} connections opened): ${
              missing(which).join("; ")
            }. The proxy's view: ${view.join("; ")}`
          )
        }
        return Duration.millis(Date.now() - since)
      })

    /**
     * Framed: a destination connection of a source that ended cleanly, whose link
     * dropped nothing, and that the destination did not disturb, ends at a record.
     */
    const framedEnds = (settled: ReadonlyArray<SourceState>): Array<string> => {
      const found: Array<string> = []
      const byId = new Map(settled.map((s) => [s.sourceId, s]))
      for (const segment of segments) {
        const source = segment.sourceId === undefined ? undefined : byId.get(segment.sourceId)
        if (source === undefined || source.cleanlyEndedAfter === undefined) continue
        if (segment.clean !== true || segment.faulted || segment.endsInsideRecord !== true) continue
        const link = source.close?.links.find((l) => l.destination === segment.destination)
        if (link === undefined || link.dropped > 0) continue
        found.push(
          `destination ${segment.destination} connection ${segment.connection} (source ${source.sourceId}) ended cleanly ` +
            `inside a record, at stream offset ${segment.endOffset}, though nothing of its link was dropped ` +
            "(--framing u32be: a connection the proxy closes on purpose ends at a message boundary)"
        )
      }
      return found
    }

    const checkIntegrity = (round: string) =>
      Effect.gen(function*() {
        if (violations.length > 0) return yield* fail(`${round}: integrity violation: ${violations.join("; ")}`)
        if (peerExits.length > 0) return yield* fail(`${round}: a soak peer died: ${peerExits.join("; ")}`)
        const now = Date.now()
        const settled = [...sources.values()].filter((s) =>
          s.close !== undefined && s.closeSeenAt! < now - 2_000 &&
          destinations.every((d) => !d.openIds.has(s.sourceId) && d.progressAt > s.closeSeenAt! + 500)
        )
        // Sources of a proxy that was killed have no "connection closed" line: nothing to balance.
        const orphans = [...sources.values()].filter((s) =>
          s.close === undefined && s.closedAt !== undefined && s.proxyGeneration < proxy.generation &&
          s.closedAt < now - 2_000
        )
        const ids = new Set(settled.map((s) => s.sourceId))
        settleEarlyCloses(round === "the end")
        if (framed) {
          const ended = framedEnds(settled)
          if (ended.length > 0) {
            return yield* fail(`${round}: ${ended.length} violation(s): ${ended.slice(0, 5).join("; ")}`)
          }
        }
        const result = checkLedger({
          sources: settled,
          closes: [...evaluatedCloses.splice(0), ...settled.map((s) => s.close!)],
          segments: segments.filter((s) => s.sourceId !== undefined && ids.has(s.sourceId)),
          generations: generations as ReadonlyArray<DestinationGeneration>,
          destinations: options.destinations
        })
        ledgerTotals.linksChecked += result.linksChecked
        ledgerTotals.linksExact += result.linksExact
        ledgerTotals.bytesReceived += result.bytesReceived
        ledgerTotals.bytesDelivered += result.bytesDelivered
        ledgerTotals.bytesDropped += result.bytesDropped
        ledgerTotals.bytesGiven += result.bytesGiven
        ledgerViolations.push(...result.violations)
        unverifiableSources += orphans.length
        // Forget what was checked, so a long soak's memory stays flat.
        for (const source of [...settled, ...orphans]) {
          sources.delete(source.sourceId)
          for (const destination of destinations) destination.reached.delete(source.sourceId)
          const list = sourcesByPeer.get(source.peer)?.filter((id) => id !== source.sourceId) ?? []
          if (list.length === 0) sourcesByPeer.delete(source.peer)
          else sourcesByPeer.set(source.peer, list)
        }
        const keep = segments.filter((s) =>
          s.sourceId === undefined ? false : !ids.has(s.sourceId) && sources.has(s.sourceId)
        )
        segments.length = 0
        segments.push(...keep)
        if (result.violations.length > 0) {
          return yield* fail(
            `${round}: ${result.violations.length} integrity violation(s): ${result.violations.slice(0, 5).join("; ")}`
          )
        }
      })

    const baseline = { sockets: 0, fibers: undefined as number | undefined, rssBytes: 0, fibersPerConnection: 0 }

    const readLeaks: Effect.Effect<LeakReading> = Effect.gen(function*() {
      const metrics = yield* proxyMetrics
      return { sockets: openSockets(proxy.pid!), scrape: metrics, sources: openSources().length }
    })
    const metric = metricOf
    const leaksIn = (reading: LeakReading, fibersAllowed: number | undefined) =>
      findLeaks(reading, {
        pid: proxy.pid ?? 0,
        // The spare route's listener, while it is there.
        baselineSockets: baseline.sockets + (spare.present && spare.listening ? 1 : 0),
        destinations: destinations.filter((d) => d.present).map((d) => destinationName(d.index)),
        removed: destinations.filter((d) => !d.present).map((d) => destinationName(d.index)),
        fibersAllowed
      })

    const leakSettle = Duration.sum(Duration.seconds(10), options.loadMargin)

    const checkLeaks = (round: string) =>
      Effect.gen(function*() {
        // Until the warm-up has measured what a connection needs, fibers are not judged.
        const allowed = baseline.fibers === undefined || baseline.fibersPerConnection === 0
          ? undefined
          : () => Math.ceil(baseline.fibers! + openSources().length * baseline.fibersPerConnection * 1.5 + 50)
        yield* poll(
          readLeaks,
          (reading) => leaksIn(reading, allowed?.()).length === 0,
          leakSettle,
          (reading) =>
            `${round}: leak check failed after ${Duration.format(leakSettle)}: ${
              leaksIn(reading, allowed?.()).join("; ")
            }`
        )
        // Bounded memory as the README promises it: what the open connections may hold
        // (--buffer per destination and the read window), plus room for V8's own heap.
        const rss = residentBytes(proxy.pid!)
        const held = openSources().length * (destinations.length * proxyBufferBytes + readWindowBytes)
        const limit = baseline.rssBytes + held + heapRoomBytes
        if (baseline.rssBytes > 0 && rss > limit) {
          return yield* fail(
            `${round}: the proxy's memory grew to ${mib(rss)}, over its baseline ${mib(baseline.rssBytes)} + ${
              mib(held)
            } its connections may hold + ${mib(heapRoomBytes)}`
          )
        }
      })

    // ----- faults
    const apply = (fault: Fault): Effect.Effect<void> => {
      switch (fault.kind) {
        case "kill-proxy":
          return Effect.gen(function*() {
            yield* killProxy
            yield* Effect.sleep(Duration.millis(fault.restartAfterMs))
            stopping.proxy = false
            yield* startProxy
          })
        case "kill-destination": {
          const destination = destinations[fault.destination]!
          return Effect.gen(function*() {
            yield* killDestination(destination)
            yield* Effect.sleep(Duration.millis(fault.restartAfterMs))
            yield* startDestination(destination)
          })
        }
        case "kill-sources": {
          const group = groups[fault.group]!
          return Effect.gen(function*() {
            yield* killGroup(group)
            yield* Effect.sleep(Duration.millis(fault.restartAfterMs))
            yield* startGroup(group)
          })
        }
        case "destination-reset":
          return sendDestination(fault.destination, { cmd: "reset" })
        case "destination-halfclose":
          return sendDestination(fault.destination, { cmd: "halfclose" })
        case "destination-stall":
          return sendDestination(fault.destination, { cmd: "stall", ms: fault.ms }).pipe(
            Effect.zipRight(Effect.sleep(Duration.millis(fault.ms)))
          )
        case "sources-vanish":
          return sendGroup(fault.group, { cmd: "vanish", n: fault.n })
        case "sources-halfclose":
          return sendGroup(fault.group, { cmd: "halfclose", n: fault.n })
        case "sources-silent":
          return sendGroup(fault.group, { cmd: "silent", n: fault.n, ms: fault.ms }).pipe(
            Effect.zipRight(Effect.sleep(Duration.millis(fault.ms + 200)))
          )
        case "sources-burst":
          return sendGroup(fault.group, { cmd: "burst", n: fault.n })
        case "reload-destination": {
          const destination = destinations[fault.destination]!
          return Effect.gen(function*() {
            if (destination.present) {
              if (destinations.filter((d) => d.present).length === 1) {
                return log(`  reload: destination ${destination.index} kept: a route needs a destination`)
              }
              destination.present = false
              destination.removedAt = Date.now()
            } else {
              // Its old links are done first (each flushes within --write-timeout, or
              // gives up its dial within --connect-timeout): a new link never races one.
              if (Date.now() < destination.removedAt! + readdAfterMillis) {
                return log(`  reload: destination ${destination.index} stays removed: removed too recently`)
              }
              destination.present = true
            }
            yield* reload
            log(`  reload: destination ${destination.index} ${destination.present ? "added back" : "removed"}`)
          })
        }
        case "reload-route":
          return Effect.gen(function*() {
            spare.present = !spare.present
            if (spare.present && spare.port === 0) spare.port = yield* freePort
            if (!spare.present) spare.listening = false
            yield* reload
            if (spare.present) {
              yield* waitFor(
                () => spare.listening,
                Duration.sum(Duration.seconds(10), options.loadMargin),
                () => `the route added by a reload did not log "listening on 127.0.0.1:${spare.port}"`
              )
            }
            log(`  reload: route ${spareRoute} ${spare.present ? `added on port ${spare.port}` : "removed"}`)
            const listens = yield* accepts(spare.port)
            if (listens !== spare.present) {
              return yield* fail(
                spare.present
                  ? `the route added by a reload logged that it listens on ${spare.port}, but a connection to it was refused`
                  : `the route removed by a reload still accepts connections on ${spare.port}`
              )
            }
          })
      }
    }
    const sendDestination = (index: number, command: DestinationCommand) =>
      Effect.sync(() => destinations[index]!.child?.send(command))
    const sendGroup = (index: number, command: SourceCommand) => Effect.sync(() => groups[index]!.child?.send(command))

    // ----- the run
    log(
      `soak: seed ${options.seed} (SEED=${options.seed} reproduces the fault schedule)${
        framed ? "; --framing u32be" : ""
      }`
    )
    for (let index = 0; index < options.destinations; index++) {
      const destination: DestinationState = {
        index,
        port: 0,
        generation: 0,
        child: undefined,
        listening: false,
        reached: new Map(),
        openIds: new Set(),
        progressAt: 0,
        present: true,
        removedAt: undefined
      }
      destinations.push(destination)
      // The first run picks a free port; restarts come back on it.
      destination.port = yield* freePort
      yield* startDestination(destination)
    }
    // In a file, the port itself: a reload of a route on port 0 would be a move to a new port.
    if (configFile !== undefined) proxy.port = yield* freePort
    yield* startProxy
    const failures: Array<string> = []
    let rounds = 0
    const sampler = yield* Effect.fork(Effect.gen(function*() {
      let lastSent = bytesSent()
      let lastAt = Date.now()
      while (true) {
        yield* Effect.sleep(Duration.seconds(1))
        const now = Date.now()
        const sent = bytesSent()
        let rss = 0
        try {
          if (proxy.pid !== undefined && proxy.listening) rss = residentBytes(proxy.pid)
        } catch {
          // Killed a moment ago.
        }
        samples.push({
          at: now - startedAt,
          rssBytes: rss,
          bytesPerSecond: Math.max(0, ((sent - lastSent) * 1000) / (now - lastAt))
        })
        lastSent = sent
        lastAt = now
      }
    }))

    const body = Effect.gen(function*() {
      // Baseline: the idle proxy, before any source.
      if (!features.metrics || !features.jsonLogs) {
        log(
          "soak: this proxy has no --metrics / --log-format json: counts come from the harness and /proc only, links are not balanced"
        )
      }
      const idle = yield* poll(
        readLeaks,
        (reading) => !proxy.metrics || reading.scrape !== undefined,
        Duration.sum(Duration.seconds(10), options.loadMargin),
        () => `the proxy's /metrics on 127.0.0.1:${proxy.metricsPort} does not answer`
      )
      baseline.sockets = idle.sockets
      baseline.fibers = metric(idle, "socket_proxy_fibers_active")
      for (let index = 0; index < options.sourceGroups; index++) {
        const group: GroupState = { index, generation: 0, running: undefined, child: undefined, stopped: false }
        groups.push(group)
        yield* startGroup(group)
      }
      const total = options.sourceGroups * options.connectionsPerGroup
      yield* waitFor(
        () => openSources().length === total,
        Duration.sum(Duration.seconds(30), options.loadMargin),
        () => `only ${openSources().length} of ${total} sources connected`
      )
      // Starting 200 connections on a loaded machine is not a recovery: give it longer.
      yield* checkFlow(0, startedAt)
      yield* checkLeaks("warm-up")
      const warm = yield* readLeaks
      baseline.rssBytes = residentBytes(proxy.pid!)
      const warmFibers = metric(warm, "socket_proxy_fibers_active")
      if (baseline.fibers !== undefined && warmFibers !== undefined) {
        baseline.fibersPerConnection = Math.max(1, (warmFibers - baseline.fibers) / Math.max(1, total))
      }
      log(
        `soak: ${total} sources x ${options.destinations} destinations flowing; baseline: ${baseline.sockets} sockets idle, ${
          baseline.fibers ?? "?"
        } fibers idle (${baseline.fibersPerConnection.toFixed(1)} per connection), ${mib(baseline.rssBytes)} resident`
      )
      const endAt = startedAt + Duration.toMillis(options.duration)
      while (rounds < options.rounds && Date.now() < endAt) {
        rounds++
        const faults = drawRound(random, {
          destinations: options.destinations,
          sourceGroups: options.sourceGroups,
          connectionsPerGroup: options.connectionsPerGroup,
          stallMs: Duration.toMillis(options.writeTimeout) * 2,
          reloads: configFile !== undefined
        })
        log(`round ${rounds}: ${faults.map(describeFault).join("; ")}`)
        const roundStarted = Date.now()
        yield* Effect.all(faults.map(apply), { concurrency: "unbounded", discard: true })
        // Groups that were killed are back: wait for them to be connected again.
        yield* waitFor(
          () => openSources().length === total || proxy.unexpectedExit !== undefined,
          Duration.sum(Duration.seconds(30), options.loadMargin),
          () => `round ${rounds}: only ${openSources().length} of ${total} sources reconnected`
        )
        const faultsDone = Date.now()
        const flowing = yield* checkFlow(rounds, roundStarted)
        yield* checkIntegrity(`round ${rounds}`)
        yield* checkLeaks(`round ${rounds}`)
        log(
          `round ${rounds}: ${total} sources connected ${
            Duration.format(Duration.millis(faultsDone - roundStarted))
          } after the faults began; data flowing to all ${
            destinations.filter((d) => d.present).length
          } destinations of the route ${Duration.format(flowing)} later; integrity and leak checks passed`
        )
      }
      // The end: every source half-closes; everything must be delivered, balanced and released.
      log("soak: stopping every source")
      for (const group of groups) group.child?.send({ cmd: "stop" } satisfies SourceCommand)
      yield* waitFor(
        () => groups.every((g) => g.stopped),
        Duration.sum(Duration.seconds(20), options.loadMargin),
        () => `source groups did not all close: ${groups.filter((g) => !g.stopped).map((g) => g.index).join(", ")}`
      )
      const closedAt = Date.now()
      yield* waitFor(
        () =>
          [...sources.values()].every((s) => s.close !== undefined || s.proxyGeneration < proxy.generation) &&
          destinations.every((d) => d.openIds.size === 0 && d.progressAt > closedAt + 3_000),
        Duration.sum(Duration.seconds(20), options.loadMargin),
        () => {
          const unclosed = [...sources.values()].filter((s) =>
            s.close === undefined && s.proxyGeneration === proxy.generation
          )
          return `the end: ${unclosed.length} source connections never got a "connection closed" line from the proxy${
            unclosed.length === 0 ? "" : ` (${unclosed.slice(0, 5).map((s) => describeSource(s.sourceId)).join("; ")})`
          }; destinations:\n  ${describeDestinations()}${
            peerExits.length === 0 ? "" : `\npeers that died: ${peerExits.join("; ")}`
          }`
        }
      )
      yield* checkIntegrity("the end")
      const final = yield* poll(
        readLeaks,
        (reading) => leaksIn(reading, baseline.fibers === undefined ? undefined : baseline.fibers + 2).length === 0,
        leakSettle,
        (reading) =>
          `the end: leak check failed: ${
            leaksIn(reading, baseline.fibers === undefined ? undefined : baseline.fibers + 2).join("; ")
          }`
      )
      // V8 gives memory back only once allocation has been quiet for a while (its memory
      // reducer), so an idle proxy is given time to come back down.
      const idleLimit = baseline.rssBytes * 1.5 + 64 * 1024 * 1024
      const rss = yield* poll(
        Effect.sync(() => residentBytes(proxy.pid!)),
        (bytes) => bytes <= idleLimit,
        Duration.sum(Duration.seconds(60), options.loadMargin),
        (bytes) =>
          `the end: the idle proxy still holds ${mib(bytes)}, over 1.5 x its loaded baseline ${
            mib(baseline.rssBytes)
          } + 64 MiB`
      )
      return { sockets: final.sockets, fibers: metric(final, "socket_proxy_fibers_active"), rssBytes: rss }
    })

    const final = yield* body.pipe(
      Effect.catchAllDefect((defect) => {
        failures.push(defect instanceof SoakFailure ? defect.message : `the soak itself failed: ${String(defect)}`)
        return Effect.succeed({ sockets: -1, fibers: undefined, rssBytes: 0 })
      })
    )
    peersDone.value = true
    yield* Fiber.interrupt(sampler)
    if (failures.length === 0) {
      // A clean shutdown: SIGTERM drains and exits 0.
      stopping.proxy = true
      proxy.child?.signalLeader("SIGTERM")
      const exited = yield* changed.waitUntil(() => proxy.child?.exit() !== undefined).pipe(
        Effect.timeoutOption(Duration.sum(Duration.seconds(10), options.loadMargin))
      )
      const exit = proxy.child?.exit()
      if (exited._tag === "None" || exit?.code !== 0) {
        failures.push(
          `SIGTERM: the proxy did not exit 0 after draining: ${JSON.stringify(exit)}\n${
            proxy.child?.stderrTail() ?? ""
          }`
        )
      }
    }
    return {
      seed: options.seed,
      rounds,
      elapsed: Duration.millis(Date.now() - startedAt),
      failures,
      ledger: { ...ledgerTotals, violations: ledgerViolations },
      bytesSent: bytesSent(),
      sourceConnections,
      unverifiableSources,
      reloads: proxy.reloads,
      maxRecovery: Duration.millis(maxRecovery),
      maxColdStart: Duration.millis(maxColdStart),
      samples,
      baseline: { sockets: baseline.sockets, fibers: baseline.fibers, rssBytes: baseline.rssBytes },
      final,
      metrics: proxy.metrics
    }
  })

/**
 * Several replicas behind a real HAProxy (docs/deploy.md, "Scaling out"): three
 * proxy processes with `--accept-proxy-protocol`, HAProxy in `mode tcp` in front of
 * them with `send-proxy-v2` and `/healthz` checks on each replica's metrics port,
 * two destinations that are TCP servers of this test, and 30 sources that connect
 * through HAProxy and send numbered lines all the time.
 *
 * What it shows: the sources are spread over the replicas; every destination gets
 * each source connection's bytes on a connection of its own; the replicas log the
 * sources' real addresses (from the PROXY header). Then one replica is stopped with
 * SIGTERM (it drains, HAProxy marks it down through `/healthz`) and another is
 * SIGKILLed: their sources see their connection close, reconnect through HAProxy, and
 * their lines reach both destinations again within `recoverWithin`. No connection
 * that stayed up loses or reorders a byte: each one's lines arrive at both
 * destinations consecutive and complete once the sources end.
 *
 * Skipped, with a line on stderr, where no `haproxy` is installed (`.ci/run`
 * installs it).
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import * as net from "node:net"
import { tmpdir } from "node:os"
import * as path from "node:path"
import type { CliProcess } from "../support/Cli.js"
import { findProgram } from "../../scripts/lib/FindProgram.mjs"
import { listeningPort, spawnCli } from "../support/Cli.js"
import { Condition } from "../support/Condition.js"
import type { ReceivedConnection, TestDestination } from "../support/Peers.js"
import { destination, freePort, loopback } from "../support/Peers.js"

/** `haproxy` on PATH, or where Debian's package puts it. */
const haproxy = findProgram("haproxy")
const title = "three replicas behind HAProxy (send-proxy-v2, /healthz checks)"
if (haproxy === undefined) {
  // Straight to stderr: a skipped test's name is not shown by the default reporter.
  process.stderr.write(
    `skipped: ${title}: no haproxy on PATH or in /usr/sbin (.ci/run installs it: apt-get install haproxy)\n`
  )
}

const sourceCount = 30
const replicaCount = 3
/** From the signal to a victim's lines reaching both destinations again on a new connection. */
const recoverWithin = Duration.seconds(15)
/** tsx compiles every module on a cold start; three at once on a loaded 2-core machine take a while. */
const startWithin = Duration.seconds(40)

/** One line of a source: `source-N conn-K seq-M`, seq counting on across the source's connections. */
const lineOf = (source: number, conn: number, seq: number) => `source-${source} conn-${conn} seq-${seq}\n`
const linePattern = /^source-(\d+) conn-(\d+) seq-(\d+)$/

// --- sources -----------------------------------------------------------------------

interface SourceConnection {
  readonly conn: number
  readonly socket: net.Socket
  /** The socket's local port: the `peer` port a replica must log. */
  localPort: number | undefined
  /** The first seq written on this connection. */
  readonly firstSeq: number
  /** How many lines were written on it (handed to the socket). */
  written: number
  /** Closed by the other end (HAProxy), not by the source. */
  closedByPeer: boolean
  closed: boolean
}

/** A source that sends a numbered line every tick and reconnects through HAProxy when cut off. */
class Feed {
  readonly connections: Array<SourceConnection> = []
  private seq = 0
  private stopped = false
  private retryTimer: NodeJS.Timeout | undefined

  constructor(readonly id: number, private readonly port: number, private readonly changed: Condition) {
    this.connect()
  }

  get current(): SourceConnection | undefined {
    return this.connections.at(-1)
  }

  private connect(): void {
    if (this.stopped) return
    const socket = net.connect({ host: loopback, port: this.port })
    const connection: SourceConnection = {
      conn: this.connections.length,
      socket,
      localPort: undefined,
      firstSeq: this.seq,
      written: 0,
      closedByPeer: false,
      closed: false
    }
    let connected = false
    this.connections.push(connection)
    socket.on("connect", () => {
      connected = true
      connection.localPort = socket.localPort
      this.changed.notify()
    })
    socket.on("data", () => {})
    socket.on("end", () => {
      // HAProxy half-closed: the session is over; a source does not write into it any more.
      if (!this.stopped) socket.end()
    })
    socket.on("error", () => {})
    socket.on("close", () => {
      connection.closed = true
      connection.closedByPeer = !this.stopped
      this.changed.notify()
      if (this.stopped) return
      // A refused connect is dropped from the record (no line went on it); a closed one stays.
      if (!connected) this.connections.pop()
      this.retryTimer = setTimeout(() => this.connect(), connected ? 20 : 100)
    })
  }

  /** Writes the next line on the current connection, if it is up. */
  tick(): void {
    const connection = this.current
    if (this.stopped || connection === undefined || connection.closed || connection.localPort === undefined) return
    if (connection.socket.writableEnded) return
    connection.socket.write(lineOf(this.id, connection.conn, this.seq))
    this.seq++
    connection.written++
  }

  /** Stops sending and half-closes: EOF after every line written. */
  end(): void {
    this.stopped = true
    clearTimeout(this.retryTimer)
    const connection = this.current
    if (connection !== undefined && !connection.closed) connection.socket.end()
  }

  destroy(): void {
    this.stopped = true
    clearTimeout(this.retryTimer)
    for (const connection of this.connections) connection.socket.destroy()
  }
}

/** `count` feeds to `port`, one line each every `everyMillis`; the scope destroys them. */
const feeds = (count: number, port: number, everyMillis: number) =>
  Effect.gen(function*() {
    const changed = new Condition()
    const all = yield* Effect.acquireRelease(
      Effect.sync(() => Array.from({ length: count }, (_, id) => new Feed(id, port, changed))),
      (all) => Effect.sync(() => all.forEach((feed) => feed.destroy()))
    )
    yield* Effect.acquireRelease(
      Effect.sync(() => setInterval(() => all.forEach((feed) => feed.tick()), everyMillis)),
      (timer) => Effect.sync(() => clearInterval(timer))
    )
    const until = (predicate: () => boolean, within: Duration.DurationInput, what: string) =>
      changed.waitUntil(predicate).pipe(
        Effect.timeoutFail({
          duration: within,
          onTimeout: () => new Error(`sources: timed out after ${Duration.format(Duration.decode(within))}: ${what}`)
        }),
        Effect.orDie
      )
    return { all, until }
  })

// --- what the destinations received ------------------------------------------------

/** One destination connection's lines, parsed as they come. */
interface Carried {
  source: number | undefined
  conn: number | undefined
  firstSeq: number | undefined
  /** Whole lines so far. */
  lines: number
  violation: string | undefined
  /** Chunks parsed, and the partial line after them. */
  chunks: number
  rest: string
}

const parsed = new WeakMap<ReceivedConnection, Carried>()

/** Parses what arrived on `connection` since the last call; every line must be the next of one source connection. */
const carried = (connection: ReceivedConnection, label: string): Carried => {
  let state = parsed.get(connection)
  if (state === undefined) {
    state = {
      source: undefined,
      conn: undefined,
      firstSeq: undefined,
      lines: 0,
      violation: undefined,
      chunks: 0,
      rest: ""
    }
    parsed.set(connection, state)
  }
  while (state.chunks < connection.chunks.length) {
    const text = state.rest + connection.chunks[state.chunks]!.toString("latin1")
    state.chunks++
    const lines = text.split("\n")
    state.rest = lines.pop()!
    for (const line of lines) {
      if (state.violation !== undefined) break
      const match = line.match(linePattern)
      if (match === null) {
        state.violation = `${label}: not a line of a source: ${JSON.stringify(line)}`
        break
      }
      const [source, conn, seq] = [Number(match[1]), Number(match[2]), Number(match[3])]
      if (state.source === undefined) {
        state.source = source
        state.conn = conn
        state.firstSeq = seq
      } else if (source !== state.source || conn !== state.conn) {
        state.violation =
          `${label}: source-${source} conn-${conn} inside the connection of source-${state.source} conn-${state.conn}`
      } else if (seq !== state.firstSeq! + state.lines) {
        state.violation = `${label}: source-${source} conn-${conn}: seq ${seq} after seq ${
          state.firstSeq! + state.lines - 1
        } (lost, repeated or reordered)`
      }
      state.lines++
    }
  }
  return state
}

/** The connections of `d` that carry `source`'s connection `conn`, parsed up to now. */
const carriersOf = (d: TestDestination, name: string, source: number, conn: number): ReadonlyArray<Carried> =>
  d.connections
    .map((connection, index) => carried(connection, `${name} connection ${index}`))
    .filter((c) => c.source === source && c.conn === conn)

const violations = (d: TestDestination, name: string): ReadonlyArray<string> =>
  d.connections
    .map((connection, index) => carried(connection, `${name} connection ${index}`).violation)
    .filter((v): v is string => v !== undefined)

// --- replicas and HAProxy --------------------------------------------------------------

interface Replica {
  readonly name: string
  readonly cli: CliProcess
  readonly port: number
  readonly metricsPort: number
}

const replica = (name: string, destinations: ReadonlyArray<TestDestination>) =>
  Effect.gen(function*() {
    const cli = yield* spawnCli([
      "proxy",
      "--listen",
      `${loopback}:0`,
      "--metrics",
      `${loopback}:0`,
      ...destinations.flatMap((d) => ["--dest", `${loopback}:${d.port}`]),
      "--accept-proxy-protocol"
    ])
    const metricsPort = Number((yield* cli.waitForLine(/metrics and health on http:\/\/\S+:(\d+)/, startWithin))[1])
    const port = yield* listeningPort(cli, startWithin)
    return { name, cli, port, metricsPort } satisfies Replica
  })

/** The replica that logged `connection opened` with `peer=127.0.0.1:PORT` for `port`: whichever prints it first. */
const ownerOf = (replicas: ReadonlyArray<Replica>, port: number, within: Duration.DurationInput) =>
  Effect.raceAll(
    replicas.map((r) =>
      Effect.as(
        r.cli.waitForLine(new RegExp(`message="connection opened".* peer=127\\.0\\.0\\.1:${port}( |$)`), within),
        r
      )
    )
  )

const haproxyConfig = (port: number, replicas: ReadonlyArray<Replica>) =>
  [
    "global",
    // Logs on stdout: the test waits for the servers' first passed check and their DOWN lines.
    "    log stdout format raw local0 info",
    "defaults",
    "    mode tcp",
    "    log global",
    "    timeout connect 2s",
    "    timeout client 1m",
    "    timeout server 1m",
    "    timeout check 1s",
    "    retries 3",
    "    option redispatch 1",
    "frontend feed",
    `    bind ${loopback}:${port}`,
    "    default_backend replicas",
    "backend replicas",
    "    balance leastconn",
    "    option httpchk GET /healthz",
    "    option log-health-checks",
    "    http-check expect status 200",
    // Short checks, so a stopped replica is marked down within about half a second.
    "    default-server inter 200ms fall 2 rise 2 send-proxy-v2 on-marked-down shutdown-sessions",
    ...replicas.map((r) => `    server ${r.name} ${loopback}:${r.port} check port ${r.metricsPort}`),
    ""
  ].join("\n")

/**
 * HAProxy with `config`, in the foreground (`-db`); the scope SIGKILLs it by its PID.
 * Ready once every replica passed its first check (HAProxy binds before it checks).
 */
const startHaproxy = (config: string, replicas: ReadonlyArray<Replica>) =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(path.join(tmpdir(), "socket-proxy-haproxy-"))),
      (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
    )
    const file = path.join(dir, "haproxy.cfg")
    yield* Effect.promise(() => writeFile(file, config))
    const cli = yield* spawnCli(["-f", file, "-db"], { program: [haproxy!] })
    for (const r of replicas) {
      yield* cli.waitForLine(new RegExp(`Health check for server replicas/${r.name} succeeded`), Duration.seconds(10))
    }
    return cli
  })

describe.skipIf(haproxy === undefined)(title, () => {
  it.scopedLive(
    "sources spread over the replicas, real peers logged; after a SIGTERM and a SIGKILL their sources reconnect and nothing that stayed up is lost",
    () =>
      Effect.gen(function*() {
        const d1 = yield* destination()
        const d2 = yield* destination()
        const destinations = [d1, d2] as const
        const names = ["d1", "d2"] as const
        const replicas = yield* Effect.all(
          Array.from({ length: replicaCount }, (_, i) => replica(`replica${i + 1}`, destinations)),
          { concurrency: "unbounded" }
        )
        const frontPort = yield* freePort()
        const balancer = yield* startHaproxy(haproxyConfig(frontPort, replicas), replicas)

        const { all, until } = yield* feeds(sourceCount, frontPort, 10)

        /** Which replica took the current connection of each feed, from the replicas' `connection opened` lines. */
        const owners = Effect.forEach(all, (feed) => ownerOf(replicas, feed.current!.localPort!, Duration.seconds(10)))
        /** Lines of `feed`'s connection `conn` at `d`: 0 until exactly one connection of `d` carries them. */
        const linesAt = (d: TestDestination, name: string, feed: Feed, conn: number): number => {
          const carriers = carriersOf(d, name, feed.id, conn)
          return carriers.length === 1 ? carriers[0]!.lines : 0
        }
        /** Every feed in `which` has ≥ `lines` lines of its current connection at both destinations. */
        const flowing = (which: ReadonlyArray<Feed>, lines: number, within: Duration.DurationInput) =>
          Effect.forEach(destinations, (d, i) => {
            const name = names[i]!
            const behind = () =>
              which.filter((feed) => {
                const current = feed.current
                return current === undefined || current.closed || linesAt(d, name, feed, current.conn) < lines
              })
            return d.until(() => behind().length === 0, within).pipe(
              Effect.catchAllDefect((defect) =>
                Effect.die(
                  new Error(
                    `${String(defect)}\n${name}: fewer than ${lines} lines of the current connection of source(s) ${
                      behind().map((feed) => feed.id).join(", ")
                    }; violations: ${JSON.stringify(violations(d, name).slice(0, 3))}; ` +
                      `replicas' warnings:\n${
                        replicas.flatMap((r) =>
                          r.cli.stdout().split("\n").filter((line) => /level=(WARN|ERROR)/.test(line))
                        )
                          .slice(0, 5).join("\n")
                      }`
                  )
                )
              )
            )
          })

        // 1. Every source through HAProxy to a replica, its lines at both destinations.
        yield* flowing(all, 5, recoverWithin)
        for (const feed of all) expect(feed.connections, `source ${feed.id} kept its first connection`).toHaveLength(1)
        // Each source's real address (its socket's local port), from the PROXY v2 header, in exactly one replica's log.
        const firstOwners = yield* owners
        const spread = replicas.map((r) => [r.name, firstOwners.filter((owner) => owner === r).length] as const)
        for (const [name, count] of spread) {
          expect(count, `${name} got sources: ${JSON.stringify(spread)}`).toBeGreaterThan(0)
        }
        for (const [index, feed] of all.entries()) {
          const port = feed.current!.localPort!
          const logged = replicas.filter((r) =>
            r.cli.stdout().includes(`peer=127.0.0.1:${port}\n`) || r.cli.stdout().includes(`peer=127.0.0.1:${port} `)
          )
          expect(logged.map((r) => r.name), `source ${feed.id}: peer=127.0.0.1:${port}`).toEqual([
            firstOwners[index]!.name
          ])
        }

        const [stopped, killed, survivor] = replicas as unknown as readonly [Replica, Replica, Replica]
        const stoppedFeeds = all.filter((_, index) => firstOwners[index] === stopped)
        const survivorFeeds = all.filter((_, index) => firstOwners[index] === survivor)
        /** Waits until every feed of `victims` has a connection after `before` whose lines reach both destinations. */
        const recovered = (victims: ReadonlyArray<Feed>, before: ReadonlyMap<Feed, number>, since: number) =>
          Effect.gen(function*() {
            const deadline = since + Duration.toMillis(recoverWithin)
            const left = () => Duration.millis(Math.max(0, deadline - Date.now()))
            yield* until(
              () => victims.every((feed) => feed.connections.length > before.get(feed)!),
              left(),
              `sources reconnect within ${Duration.format(recoverWithin)}`
            )
            yield* flowing(victims, 3, left())
            return Date.now() - since
          })
        const connectionCounts = () => new Map(all.map((feed) => [feed, feed.connections.length]))

        // 2. SIGTERM to one replica: it drains and exits 0, HAProxy marks it down, its sources come back elsewhere.
        const beforeStop = connectionCounts()
        const stoppedAt = Date.now()
        yield* stopped.cli.kill("SIGTERM")
        const stopExit = yield* stopped.cli.waitForExit(recoverWithin)
        expect(stopExit.code, stopExit.stdout).toBe(0)
        expect(stopExit.stdout).toMatch(/shutting down: draining \d+ connection\(s\)/)
        yield* balancer.waitForLine(new RegExp(`Server replicas/${stopped.name} is DOWN`), recoverWithin)
        const afterStop = yield* recovered(stoppedFeeds, beforeStop, stoppedAt)

        // 3. SIGKILL to another: its sources (some of them the stopped one's, moved to it) come back on the survivor.
        const secondOwners = yield* owners
        const killedFeeds = all.filter((_, index) => secondOwners[index] === killed)
        expect(secondOwners.filter((owner) => owner === stopped)).toEqual([])
        const beforeKill = connectionCounts()
        const killedAt = Date.now()
        yield* killed.cli.kill("SIGKILL")
        yield* balancer.waitForLine(new RegExp(`Server replicas/${killed.name} is DOWN`), recoverWithin)
        const afterKill = yield* recovered(killedFeeds, beforeKill, killedAt)
        const lastOwners = yield* owners
        expect(lastOwners.filter((owner) => owner !== survivor).map((owner) => owner.name)).toEqual([])

        // The survivor's own sources never lost their connection.
        for (const feed of survivorFeeds) {
          expect(feed.connections, `source ${feed.id} of ${survivor.name}: one connection`).toHaveLength(1)
        }
        for (const feed of stoppedFeeds) {
          expect(feed.connections[0]!.closedByPeer, `source ${feed.id}: its first connection was closed`).toBe(true)
        }
        for (const feed of killedFeeds) {
          expect(feed.connections[beforeKill.get(feed)! - 1]!.closedByPeer, `source ${feed.id}: closed by the kill`)
            .toBe(true)
        }

        // 4. End every source; each open connection's lines must arrive complete at both destinations.
        all.forEach((feed) => feed.end())
        yield* until(
          () => all.every((feed) => feed.current!.closed),
          Duration.seconds(10),
          "HAProxy closes the sources"
        )
        yield* Effect.forEach(destinations, (d, i) =>
          d.until(
            () =>
              all.every((feed) => {
                const current = feed.current!
                const carriers = carriersOf(d, names[i]!, feed.id, current.conn)
                return carriers.length === 1 && carriers[0]!.lines === current.written &&
                  d.connections.every((c) => c.ended || c.closed)
              }),
            Duration.seconds(10)
          ))
        for (const [i, d] of destinations.entries()) {
          expect(violations(d, names[i]!)).toEqual([])
          for (const feed of all) {
            for (const connection of feed.connections) {
              const carriers = carriersOf(d, names[i]!, feed.id, connection.conn)
              expect(carriers, `${names[i]}: source ${feed.id} conn ${connection.conn} on one connection`).toHaveLength(
                1
              )
              const [c] = carriers
              expect(c!.firstSeq, `${names[i]}: source ${feed.id} conn ${connection.conn} from its first line`).toBe(
                connection.firstSeq
              )
              if (!connection.closedByPeer) {
                expect(c!.lines, `${names[i]}: source ${feed.id} conn ${connection.conn}: every line`).toBe(
                  connection.written
                )
              } else {
                expect(c!.lines).toBeLessThanOrEqual(connection.written)
              }
            }
          }
        }
        // Every connection HAProxy made began with its header: no replica refused one.
        for (const r of replicas) expect(r.cli.stdout()).not.toMatch(/refused a connection/)
        // Every destination connection is one source connection's: none more than the sources opened.
        const opened = all.reduce((n, feed) => n + feed.connections.length, 0)
        console.log(
          `spread ${
            JSON.stringify(spread)
          }; back after the SIGTERM in ${afterStop} ms, after the SIGKILL in ${afterKill} ms; ${opened} source connections; ${d1.connections.length} and ${d2.connections.length} destination connections; lines written ${
            all.reduce((n, feed) => n + feed.connections.reduce((m, c) => m + c.written, 0), 0)
          }`
        )
        expect(d1.connections).toHaveLength(opened)
        expect(d2.connections).toHaveLength(opened)
      }),
    60_000
  )
})

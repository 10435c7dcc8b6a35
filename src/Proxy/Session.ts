import { Clock, Deferred, Duration, Effect, Exit, FiberRef, FiberSet, HashMap } from "effect"
import type * as net from "node:net"
import type { ProxyConfig } from "./Config.js"
import type { Drain } from "./Drain.js"
import type { ConnectionLost } from "./Errors.js"
import type { Flow } from "./Forwarder.js"
import { Forwarder } from "./Forwarder.js"
import { ConnectionCounters } from "./Stats.js"
import type { ProxyCounters } from "./Stats.js"
import * as Tcp from "./Tcp.js"
import { formatBytes } from "./Units.js"

export interface SessionContext {
  readonly config: ProxyConfig
  readonly counters: ProxyCounters
  readonly drain: Drain
}

/**
 * Hands what a source sends to every forwarder, in order, straight from the
 * socket's data event (no fiber runs per chunk), and pauses the source while it
 * waits for a forwarder: one whose write the kernel pushed back, with more queued,
 * for a moment (as plain Node would, so the kernel gathers full reads while the
 * destinations catch up), or one whose buffer is full. The buffers take what comes
 * while a destination lags past that moment, and all that a destination that is
 * down or connecting must not miss. After every change it looks at every
 * forwarder and keeps their stall clocks (see `Patience`).
 */
class Fanout implements Flow {
  readonly forwarders: Array<Forwarder> = []
  private paused = false
  /** Why the source ended; undefined while it is open. */
  endedBy: "closed" | "failed" | undefined = undefined
  failure: ConnectionLost | undefined = undefined
  idled = false
  lastActivity: number
  private open = 0
  /** Pauses and resumes the source; set once the source is open. */
  source: Tcp.InboundConnection | undefined = undefined

  constructor(
    private readonly counters: { addReceived: (bytes: number) => void },
    private readonly clock: Clock.Clock,
    /** Completed once the source has ended and every forwarder is done. */
    private readonly done: Deferred.Deferred<void, unknown>
  ) {
    this.lastActivity = clock.unsafeCurrentTimeMillis()
  }

  add(forwarder: Forwarder): void {
    this.forwarders.push(forwarder)
    this.open++
  }

  readonly onData = (chunk: Uint8Array): void => {
    if (chunk.length === 0) return
    this.lastActivity = this.clock.unsafeCurrentTimeMillis()
    this.counters.addReceived(chunk.length)
    for (const forwarder of this.forwarders) forwarder.offer(chunk)
    this.changed()
  }

  readonly onEnd = (failure: ConnectionLost | undefined): void => {
    this.failure = failure
    this.endedBy = failure === undefined ? "closed" : "failed"
    const now = this.clock.unsafeCurrentTimeMillis()
    for (const forwarder of this.forwarders) forwarder.sourceEnded(now)
    this.finishIfDone()
  }

  readonly written = (): void => {
    if (this.paused) this.changed()
  }

  /** Looks at every forwarder: who holds the source back, who is blamed for it; pauses or resumes the source. */
  readonly changed = (): void => {
    const forwarders = this.forwarders
    const now = this.clock.unsafeCurrentTimeMillis()
    let waitedFor = 0
    let hungry = 0
    for (const forwarder of forwarders) {
      const role = forwarder.role(now)
      if (role === "holding" || role === "busy") waitedFor++
      else if (role === "hungry") hungry++
    }
    for (const forwarder of forwarders) {
      const role = forwarder.role(now)
      forwarder.judge(role, hungry - (role === "hungry" ? 1 : 0) > 0, waitedFor > 0, now)
    }
    const pause = waitedFor > 0 && this.endedBy === undefined
    if (pause === this.paused || this.source === undefined) return
    this.paused = pause
    if (pause) this.source.pause()
    else this.source.resume()
  }

  /** A forwarder's fiber is done. */
  readonly forwarderDone = (): void => {
    this.open--
    this.finishIfDone()
  }

  private finishIfDone(): void {
    if (this.endedBy !== undefined && this.open === 0) Deferred.unsafeDone(this.done, Exit.void)
  }
}

/**
 * Closes the source once it has sent nothing for `idleMillis`. One timer per
 * source, re-armed only when it fires, not one per read: reads are the hot path.
 */
const watchIdle = (fanout: Fanout, source: Tcp.InboundConnection, idleMillis: number): Effect.Effect<void> =>
  Effect.gen(function*() {
    while (true) {
      const silentFor = (yield* Clock.currentTimeMillis) - fanout.lastActivity
      if (silentFor >= idleMillis) {
        fanout.idled = true
        return yield* source.close
      }
      yield* Effect.sleep(Duration.millis(idleMillis - silentFor))
    }
  })

const endReason = (fanout: Fanout, context: SessionContext): string =>
  fanout.failure !== undefined
    ? `source failed: ${fanout.failure.reason}`
    : fanout.idled
    ? `source idle for ${Duration.format(context.config.idleTimeout)}`
    : context.drain.draining
    ? "proxy shutting down"
    : "source closed the connection"

const summary = (counters: ConnectionCounters): string =>
  [
    `received ${formatBytes(counters.bytesReceived)}`,
    ...counters.links.map((link) =>
      `${link.health.name}: delivered ${formatBytes(link.delivered)}, dropped ${formatBytes(link.dropped)}`
    )
  ].join("; ")

/**
 * One accepted connection: the source, read through the fan-out, and one
 * forwarder per destination, whose fibers (and the idle watchdog) live in this
 * session's FiberSet. The session waits on the set: it ends when the source has
 * ended and every forwarder is done, or with the first defect of any fiber in it.
 * Either way its scope then closes, which interrupts every fiber in the set and
 * closes every socket of the connection. Meant to be the whole of a forked fiber
 * (the listener runs each in its own): it annotates that fiber's logs for good
 * rather than through an `annotateLogs` frame the session would hold for its life.
 */
export const runSession = (socket: net.Socket, context: SessionContext): Effect.Effect<void> =>
  Effect.suspend(() => {
    const { config, counters: proxyCounters } = context
    const id = ++proxyCounters.acceptedConnections
    const peer = Tcp.peerOf(socket)
    return Effect.gen(function*() {
      yield* FiberRef.update(FiberRef.currentLogAnnotations, (annotations) =>
        annotations.pipe(HashMap.set<string, unknown>("connection", id), HashMap.set<string, unknown>("peer", peer)))
      const openedAt = yield* Clock.currentTimeMillis
      const clock = yield* Effect.clock
      // The set's `join` waits on its deferred, which the set completes with the first
      // failure of a fiber in it; the fan-out completes it once all is done.
      const fibers = yield* FiberSet.make<void, never>()
      const fanout = new Fanout({ addReceived: (bytes) => counters.addReceived(bytes) }, clock, fibers.deferred)
      const settings = {
        bufferBytes: config.bufferBytes,
        writeTimeoutMillis: Duration.toMillis(config.writeTimeout),
        connectTimeoutMillis: Duration.toMillis(config.connectTimeout)
      }
      // Every forwarder exists, and dials, before the first byte is read, so none misses any.
      config.destinations.forEach((destination, index) =>
        fanout.add(new Forwarder(destination, proxyCounters.destinations[index]!, settings, clock, fanout))
      )
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          for (const forwarder of fanout.forwarders) forwarder.closed()
        })
      )
      const counters = new ConnectionCounters(id, peer, openedAt, fanout.forwarders.map((f) => f.counters), proxyCounters)
      proxyCounters.open.set(id, counters)
      yield* Effect.addFinalizer(() => proxyCounters.release(counters))

      const source = yield* Tcp.inbound(socket, fanout)
      fanout.source = source
      yield* context.drain.register(source.close)
      yield* Effect.logInfo("connection opened")
      for (const forwarder of fanout.forwarders) {
        yield* FiberSet.run(fibers, Effect.ensuring(forwarder.run(), Effect.sync(fanout.forwarderDone)))
      }
      const idleMillis = Duration.toMillis(config.idleTimeout)
      if (idleMillis > 0) yield* FiberSet.run(fibers, watchIdle(fanout, source, idleMillis))

      // A defect in any of them fails this, and the listener logs it.
      yield* FiberSet.join(fibers)
      yield* source.close
      const closedAt = yield* Clock.currentTimeMillis
      yield* Effect.logInfo(
        `connection closed (${endReason(fanout, context)}) after ${
          Duration.format(Duration.millis(closedAt - openedAt))
        }: ${summary(counters)}`
      ).pipe(
        Effect.annotateLogs({ bytesIn: counters.bytesReceived, durationMs: closedAt - openedAt, links: counters.linkTotals() })
      )
    }).pipe(Effect.scoped)
  })

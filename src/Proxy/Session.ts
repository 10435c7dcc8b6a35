import { Cause, Clock, Duration, Effect, Fiber, FiberRef, HashMap } from "effect"
import type * as net from "node:net"
import type { ProxyConfig } from "./Config.js"
import type { Drain } from "./Drain.js"
import type { ConnectionLost } from "./Errors.js"
import { Forwarder } from "./Forwarder.js"
import { Condition } from "./Condition.js"
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
 * socket's data event: when every forwarder takes a chunk at once (the usual
 * case), no fiber runs at all. When one of them is full, the source is paused
 * and the chunks read meanwhile wait here (at most one socket read, as reading
 * stops at once), until the reader fiber has waited for room (`waitForRoom`,
 * which bounds how long each destination may hold the source back).
 */
class Fanout {
  /** Chunks not yet taken by every forwarder; the first is being handed over. */
  private readonly waiting: Array<Uint8Array> = []
  /** For the first waiting chunk: what each forwarder has yet to take of it. */
  private readonly rests: Array<Uint8Array>
  private endedValue = false
  failure: ConnectionLost | undefined = undefined
  lastActivity: number
  readonly changed = new Condition()
  /** Pauses the source; set once the source is open. */
  pause: () => void = () => {}

  constructor(
    private readonly forwarders: ReadonlyArray<Forwarder>,
    private readonly counters: ConnectionCounters,
    private readonly clock: Clock.Clock
  ) {
    this.rests = forwarders.map(() => new Uint8Array(0))
    this.lastActivity = clock.unsafeCurrentTimeMillis()
  }

  /** True while a forwarder holds the source back. */
  get blocked(): boolean {
    return this.waiting.length > 0
  }

  /** True once the source has sent its last byte (EOF, error or close). */
  get ended(): boolean {
    return this.endedValue
  }

  readonly onData = (chunk: Uint8Array): void => {
    if (chunk.length === 0) return
    this.lastActivity = this.clock.unsafeCurrentTimeMillis()
    this.counters.addReceived(chunk.length)
    if (this.waiting.length > 0) {
      this.waiting.push(chunk)
      return
    }
    if (this.spread(chunk)) {
      for (const forwarder of this.forwarders) forwarder.caughtUp()
      return
    }
    this.waiting.push(chunk)
    this.pause()
    this.changed.notify()
  }

  readonly onEnd = (failure: ConnectionLost | undefined): void => {
    this.failure = failure
    this.endedValue = true
    this.changed.notify()
  }

  /** Offers `chunk` to every forwarder; false if one of them could not take all of it (see `rests`). */
  private spread(chunk: Uint8Array): boolean {
    let taken = true
    for (let i = 0; i < this.forwarders.length; i++) {
      const rest = this.forwarders[i]!.offer(chunk)
      this.rests[i] = rest
      if (rest.length > 0) taken = false
    }
    return taken
  }

  /**
   * Waits for room in each forwarder that could not take the first waiting
   * chunk, then hands over what it can; returns once nothing waits (the caller
   * resumes the source).
   */
  readonly catchUp: Effect.Effect<void> = Effect.suspend(() => this.catchUpStep()).pipe(
    Effect.repeat({ until: () => this.waiting.length === 0 })
  )

  private catchUpStep(): Effect.Effect<void> {
    this.assignBlame()
    return Effect.forEach(
      this.forwarders,
      (forwarder, i) =>
        Effect.suspend(() => {
          if (this.rests[i]!.length === 0) return Effect.void
          return Effect.map(forwarder.waitForRoom(), () => {
            this.rests[i] = forwarder.offer(this.rests[i]!)
          })
        }),
      { discard: true }
    ).pipe(Effect.map(() => this.handOverWaiting()))
  }

  /**
   * Decides whose stall clock runs while the source is held back. Only a destination
   * that holds it back while another one is hungry (connected, no write waiting on
   * the kernel) slows anyone down. When no other one is hungry, the source is simply
   * faster than all of them (a bulk sender, or a single destination) and none is
   * blamed; a hungry destination while another holds the source back is keeping up,
   * and its stretch ends. Without this, destinations of equal speed behind a fast
   * source took turns being full and were cut one after the other, losing data for
   * nothing. A destination that takes nothing at all is still cut: its wait for room
   * runs out (`waitForRoom`), and so does its write (`--write-timeout`).
   */
  private assignBlame(): void {
    let hungry = 0
    let anyFull = false
    for (let i = 0; i < this.forwarders.length; i++) {
      if (this.rests[i]!.length > 0) anyFull = true
      else if (this.forwarders[i]!.hungry) hungry++
    }
    if (!anyFull) return
    for (let i = 0; i < this.forwarders.length; i++) {
      const forwarder = this.forwarders[i]!
      if (this.rests[i]!.length > 0) {
        if (hungry === 0) forwarder.excuse()
      } else if (forwarder.hungry) {
        forwarder.keepsUp()
      }
    }
  }

  /** Hands over the waiting chunks for as long as every forwarder takes them. */
  private handOverWaiting(): void {
    if (this.rests.some((rest) => rest.length > 0)) return
    let next = 1
    while (next < this.waiting.length) {
      if (!this.spread(this.waiting[next]!)) break
      next++
    }
    this.waiting.splice(0, next)
    if (this.waiting.length === 0) for (const forwarder of this.forwarders) forwarder.caughtUp()
  }
}

/**
 * Reads the source through `fanout` until it ends (EOF, error, idle timeout or
 * shutdown, the last two by closing the source), then ends every forwarder so
 * each flushes and closes. Returns why the source ended, for the log.
 */
const readSource = (
  source: Tcp.InboundStream,
  fanout: Fanout,
  forwarders: ReadonlyArray<Forwarder>,
  context: SessionContext
): Effect.Effect<string> =>
  Effect.gen(function*() {
    const idleTimeout = context.config.idleTimeout
    const idleMillis = Duration.toMillis(idleTimeout)
    let idled = false
    // One timer per source, not one per read: reads are the hot path.
    const watchIdle = Effect.gen(function*() {
      while (true) {
        const silentFor = (yield* Clock.currentTimeMillis) - fanout.lastActivity
        if (silentFor >= idleMillis) {
          idled = true
          return yield* source.close
        }
        yield* Effect.sleep(Duration.millis(idleMillis - silentFor))
      }
    })
    const watchdog = idleMillis > 0 ? yield* Effect.fork(watchIdle) : undefined
    while (true) {
      yield* fanout.changed.waitUntil(() => fanout.blocked || fanout.ended)
      if (fanout.blocked) {
        yield* fanout.catchUp
        source.resume()
        continue
      }
      break
    }
    if (watchdog !== undefined) yield* Fiber.interrupt(watchdog)
    yield* source.close
    for (const forwarder of forwarders) forwarder.end()
    return fanout.failure !== undefined
      ? `source failed: ${fanout.failure.reason}`
      : idled
      ? `source idle for ${Duration.format(idleTimeout)}`
      : context.drain.draining
      ? "proxy shutting down"
      : "source closed the connection"
  })

const summary = (counters: ConnectionCounters): string =>
  [
    `received ${formatBytes(counters.bytesReceived)}`,
    ...counters.links.map((link) =>
      `${link.health.name}: delivered ${formatBytes(link.delivered)}, dropped ${formatBytes(link.dropped)}`
    )
  ].join("; ")

/**
 * One accepted connection: the source reader and one forwarder per destination,
 * all in this session's scope. When the scope closes, for whatever reason, every
 * fiber is interrupted and every socket of the connection is closed. Meant to be
 * the whole of a forked fiber (the listener runs each in its own): it annotates
 * that fiber's logs for good rather than through an `annotateLogs` frame the
 * session would hold for its whole life.
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
      const counters = new ConnectionCounters(
        id,
        peer,
        openedAt,
        proxyCounters.destinations,
        config.bufferBytes,
        proxyCounters
      )
      proxyCounters.open.set(id, counters)
      yield* Effect.addFinalizer(() => proxyCounters.release(counters))

      const clock = yield* Effect.clock
      const forwarders = config.destinations.map((destination, index) =>
        new Forwarder({ destination, config, link: counters.links[index]!, clock })
      )
      const fanout = new Fanout(forwarders, counters, clock)
      const source = yield* Tcp.inboundStream(socket, fanout)
      fanout.pause = source.pause
      yield* context.drain.register(source.close)
      yield* Effect.logInfo("connection opened")
      // A forwarder that dies of a defect (a bug) takes its whole connection down, as a
      // defect anywhere must: the session is interrupted, and its scope closes every
      // socket and sibling. Otherwise the source would wait for that forwarder forever.
      const session = yield* Effect.withFiberRuntime<Fiber.Fiber<unknown, unknown>>((fiber) => Effect.succeed(fiber))
      const endSessionOnDefect = (cause: Cause.Cause<never>) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.void
          : Effect.logError("connection ended by an unexpected error", cause).pipe(
            Effect.zipRight(Fiber.interruptFork(session))
          )
      // Every forwarder exists before the first byte is read, so none misses any.
      const running = yield* Effect.forEach(forwarders, (forwarder) =>
        Effect.fork(forwarder.run().pipe(Effect.onError(endSessionOnDefect))))
      const reason = yield* readSource(source, fanout, forwarders, context)
      // Awaited, not joined: a forwarder's log annotations must not become the session's.
      yield* Fiber.awaitAll(running)
      const closedAt = yield* Clock.currentTimeMillis
      yield* Effect.logInfo(`connection closed (${reason}) after ${Duration.format(Duration.millis(closedAt - openedAt))}: ${summary(counters)}`).pipe(
        Effect.annotateLogs({ bytesIn: counters.bytesReceived, durationMs: closedAt - openedAt, links: counters.linkTotals() })
      )
    }).pipe(Effect.scoped)
  })

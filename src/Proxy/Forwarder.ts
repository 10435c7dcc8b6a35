import { Clock, Duration, Effect, Either, FiberRef, HashMap, Option } from "effect"
import { maxRedialDelay, redialDelay, tooSlowRedialDelay } from "./Backoff.js"
import type { ProxyConfig } from "./Config.js"
import type { Endpoint } from "./Endpoint.js"
import type { ConnectError, ConnectionLost } from "./Errors.js"
import { DestinationTooSlow } from "./Errors.js"
import type { LinkCounters } from "./Stats.js"
import * as Tcp from "./Tcp.js"

export interface ForwarderOptions {
  readonly destination: Endpoint
  readonly config: ProxyConfig
  readonly link: LinkCounters
  /** The session's clock, read synchronously on the hot path. */
  readonly clock: Clock.Clock
}

/** The most handed to the socket in one write: small enough to keep delivery counts and timeouts fine-grained. */
const maxWriteBytes = 256 * 1024

type Mode = "starting" | "connected" | "down"

const noBytes = new Uint8Array(0)

/**
 * Forwards one source's bytes to one destination until the source ends, and
 * handles every failure of that destination itself: it never fails, so one bad
 * destination cannot stop the others.
 *
 * The hot path has no fiber in it. The session's reader hands each chunk to
 * `offer`, which appends it to the link's buffer and, when the destination is
 * connected and no write is in flight, hands it to the socket at once; each
 * completed write starts the next one with everything queued meanwhile (one
 * corked batch, so a lagging destination gets few large writes). One fiber per
 * destination, `run`, dials with backoff, watches the connection (failure, cut,
 * write timeout, end) and redials. What `offer` does depends on the link's mode:
 * - starting (first attempt under way) or connected: it takes what fits; the
 *   reader waits for room with `waitForRoom`, which back-pressures the source,
 *   but for at most `writeTimeout` at a stretch; then a connected destination is
 *   cut (and redialled), a starting one goes down;
 * - down (a connection failed, redialling): it keeps only the newest
 *   `bufferBytes` and counts the rest as dropped, so a dead destination never
 *   holds the source back.
 * So each destination connection carries one contiguous run of the source's
 * bytes: gaps only ever fall between connections.
 */
export class Forwarder {
  private readonly buffer
  private readonly health
  private readonly writeTimeoutMillis: number
  private mode: Mode
  /** Set by the reader when the destination held the source back too long. */
  private cutReason: string | undefined = undefined
  /** When this destination started holding the source back, in the current mode, without catching up since. */
  private stalledSince: number | undefined = undefined
  /**
   * Set when the destination is cut for being too slow. A fresh connection
   * swallows megabytes into kernel buffers before it can fall behind again, so
   * until it has kept up for a whole `writeTimeout`, it may hold the source back
   * for only a tenth of that at a stretch.
   */
  private onProbation = false
  /** When the current (or last) connection came up. */
  private connectedAt = 0
  /** When the reader last found the buffer full. */
  private lastFullAt = 0
  /** The connection being written to, while connected. */
  private connection: Tcp.OutboundConnection | undefined = undefined
  /** When the write in flight was handed to the socket; undefined when none is. */
  private writeStartedAt: number | undefined = undefined
  /**
   * Set when the write in flight was not taken by the kernel at once: only then
   * can it take long, so only then does the fiber time it.
   */
  private writePending = false

  constructor(private readonly options: ForwarderOptions) {
    this.buffer = options.link.buffer
    this.health = options.link.health
    this.writeTimeoutMillis = Duration.toMillis(options.config.writeTimeout)
    // A destination other connections already know to be down gets no benefit of the doubt.
    this.mode = this.health.state === "down" ? "down" : "starting"
  }

  private now(): number {
    return this.options.clock.unsafeCurrentTimeMillis()
  }

  private setMode(mode: Mode): void {
    this.mode = mode
    this.stalledSince = undefined
    this.cutReason = undefined
    this.buffer.changed.notify()
  }

  private patienceMillis(): number {
    return this.onProbation ? this.writeTimeoutMillis / 10 : this.writeTimeoutMillis
  }

  // -------------------------------------------------------------------------
  // The reader's side

  /**
   * Takes as much of `chunk` as it can now, without waiting; returns the rest
   * (empty when it took it all). A non-empty rest means this destination holds
   * the source back: the reader must `waitForRoom` and offer the rest again.
   */
  offer(chunk: Uint8Array): Uint8Array {
    if (this.mode === "down") {
      this.options.link.addDropped(this.buffer.appendEvictingOldest(chunk))
      return noBytes
    }
    const rest = this.buffer.appendWithinRoom(chunk)
    this.writeQueued()
    if (rest.length > 0) {
      const now = this.now()
      this.lastFullAt = now
      this.stalledSince ??= now
    }
    return rest
  }

  /**
   * The reader has handed over everything it read. The source is paused while a
   * destination is full, so the reader always catches up right after; what shows
   * that this destination keeps up is that it has not been full for a while (a
   * tenth of its patience). Until then the stretch it holds the source back goes
   * on, so one that reads slower than the source sends is still cut after its
   * patience, however briefly it holds each chunk.
   */
  caughtUp(): void {
    if (this.stalledSince === undefined && !this.onProbation) return
    const now = this.now()
    if (now - this.lastFullAt < this.patienceMillis() / 10) return
    this.stalledSince = undefined
    if (!this.onProbation || this.mode !== "connected") return
    if (now - Math.max(this.connectedAt, this.lastFullAt) >= this.writeTimeoutMillis) this.onProbation = false
  }

  /**
   * True while connected and taking data as fast as it comes: no write is waiting
   * on the kernel. A destination with a write waiting is saturated itself, so a
   * fuller one is not what holds it back.
   */
  get hungry(): boolean {
    return this.mode === "connected" && !this.writePending
  }

  /** No other destination is hungry: none is held back by this one, so this stretch starts afresh. */
  excuse(): void {
    if (this.stalledSince !== undefined) this.stalledSince = this.now()
  }

  /** Another destination holds the source back while this one is hungry: this one's stretch is over. */
  keepsUp(): void {
    this.stalledSince = undefined
  }

  /**
   * Waits until the buffer has room or the mode changes (the caller then offers
   * again), for what is left of this destination's patience; a starting
   * destination that runs out of it goes down, a connected one is cut.
   */
  waitForRoom(): Effect.Effect<void> {
    const entryMode = this.mode
    if (entryMode === "down" || this.buffer.room > 0) return Effect.void
    const now = this.now()
    this.lastFullAt = now
    this.stalledSince ??= now
    const left = this.patienceMillis() - (now - this.stalledSince)
    const wait = left > 0
      ? this.buffer.changed.waitUntil(() => this.buffer.room > 0 || this.mode !== entryMode).pipe(
        Effect.timeoutOption(Duration.millis(left)),
        Effect.map(Option.isSome)
      )
      : Effect.succeed(false)
    return Effect.flatMap(wait, (gotRoom) => {
      // A new mode (a connection came up, or went down) starts a new stretch: the caller comes back.
      if (gotRoom || this.mode !== entryMode) return Effect.void
      if (this.mode === "starting") {
        // The first attempt is taking long: stop holding the source back for it.
        this.setMode("down")
        return Effect.void
      }
      this.cutReason = `it held the source back for ${Duration.format(Duration.millis(this.patienceMillis()))}`
      this.buffer.changed.notify()
      return this.buffer.changed.waitUntil(() => this.mode !== "connected")
    })
  }

  /** The source has ended: flush what is held, then close. */
  end(): void {
    this.buffer.end()
  }

  // -------------------------------------------------------------------------
  // Writing, driven by the reader and by write completions, not by a fiber

  private writeQueued(): void {
    const connection = this.connection
    if (connection === undefined || this.writeStartedAt !== undefined || this.buffer.queuedBytes === 0) return
    this.writeStartedAt = this.now()
    connection.send(this.buffer.takeForWrite(maxWriteBytes), (failure) => this.written(connection, failure))
    // (`send` may already have settled the write, if the connection had failed.)
    if (this.writeStartedAt !== undefined && this.connection === connection && connection.pushingBack()) {
      this.writePending = true
      this.buffer.changed.notify()
    }
  }

  private written(connection: Tcp.OutboundConnection, failure: ConnectionLost | undefined): void {
    // A write of a connection given up on settles nothing: markDown has counted it.
    if (connection !== this.connection) return
    this.writeStartedAt = undefined
    this.writePending = false
    if (failure !== undefined) {
      // The connection's failure wakes the fiber through onFailure.
      this.buffer.changed.notify()
      return
    }
    this.options.link.addDelivered(this.buffer.settleWrite())
    this.writeQueued()
  }

  // -------------------------------------------------------------------------
  // The fiber: dial, watch, redial

  private tooSlow(reason: string): DestinationTooSlow {
    return new DestinationTooSlow({ destination: this.health.name, reason })
  }

  /**
   * Watches a connection the writes go to until the source has ended and all
   * was delivered; fails when the connection breaks, when the reader asks for a
   * cut, or when one write (or, after the source ended, the rest) takes longer
   * than `writeTimeout`. It wakes on those events, and otherwise at most once
   * per `writeTimeout`: never per chunk.
   */
  private deliver(connection: Tcp.OutboundConnection): Effect.Effect<void, ConnectionLost | DestinationTooSlow> {
    const buffer = this.buffer
    const writeTimeout = this.options.config.writeTimeout
    /** Once the source has ended, the destination has `writeTimeout` in all to take the rest. */
    let flushDeadline: number | undefined
    const settled = () =>
      connection.failure() !== undefined || this.cutReason !== undefined || (buffer.ended && buffer.heldBytes === 0)
    const check = Effect.suspend((): Effect.Effect<"done" | "watch", ConnectionLost | DestinationTooSlow> => {
      const failure = connection.failure()
      if (failure !== undefined) return Effect.fail(failure)
      if (this.cutReason !== undefined) return Effect.fail(this.tooSlow(this.cutReason))
      if (buffer.ended && buffer.heldBytes === 0) return Effect.succeed("done")
      const now = this.now()
      if (buffer.ended) flushDeadline ??= now + this.writeTimeoutMillis
      if (flushDeadline !== undefined && now >= flushDeadline) {
        return Effect.fail(
          this.tooSlow(`it did not take the rest within ${Duration.format(writeTimeout)} of the source's end`)
        )
      }
      if (this.writePending && this.writeStartedAt !== undefined && now - this.writeStartedAt >= this.writeTimeoutMillis) {
        return Effect.fail(this.tooSlow(`a write did not complete within ${Duration.format(writeTimeout)}`))
      }
      return Effect.succeed("watch")
    })
    // No write the destination is pushing back on, and no end to time: wait for
    // an event, with no timer at all. Writes the kernel takes at once (a
    // destination that keeps up) never wake this fiber.
    const idle = () => !this.writePending && !buffer.ended
    const waitForActivity = buffer.changed.waitUntil(() => settled() || !idle())
    const watch = Effect.suspend(() => {
      if (idle()) return waitForActivity
      const now = this.now()
      let deadline = this.writeStartedAt === undefined || !this.writePending
        ? Number.POSITIVE_INFINITY
        : this.writeStartedAt + this.writeTimeoutMillis
      if (flushDeadline !== undefined) deadline = Math.min(deadline, flushDeadline)
      // A write that completes does not wake this: the next check looks at whatever write is in flight then.
      return buffer.changed.waitUntil(settled).pipe(
        Effect.timeoutOption(Duration.millis(Math.max(0, deadline - now))),
        Effect.asVoid
      )
    })
    return Effect.gen(this, function*() {
      while ((yield* check) === "watch") yield* watch
    })
  }

  private markDown(): Effect.Effect<void> {
    return Effect.sync(() => {
    if (this.mode === "connected") this.health.reportDisconnected()
    this.connection = undefined
    this.writeStartedAt = undefined
    this.writePending = false
    this.options.link.connected = false
    this.options.link.addDropped(this.buffer.abandonWrite())
    this.setMode("down")
    })
  }

  private markConnected(connection: Tcp.OutboundConnection): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.connectedAt = this.now()
      this.options.link.connected = true
      this.connection = connection
      this.setMode("connected")
      connection.onFailure(() => this.buffer.changed.notify())
      this.writeQueued()
      return this.health.reportUp()
    }).pipe(Effect.uninterruptible)
  }

  /** Once the source has ended with nothing left to send, a connection would only be opened to be closed. */
  private nothingToSend(): Effect.Effect<void> {
    return this.buffer.changed.waitUntil(() => this.buffer.ended && this.buffer.queuedBytes === 0)
  }

  /** Connects, delivers until the source ends, then closes gracefully; fails if the connection fails. */
  private connectAndDeliver(): Effect.Effect<void, ConnectionLost | DestinationTooSlow | ConnectError> {
    return Effect.gen(this, function*() {
    const connection = yield* Effect.raceFirst(
      Effect.asSome(Tcp.connect(this.options.destination, this.options.config.connectTimeout)),
      Effect.as(this.nothingToSend(), Option.none())
    )
    if (Option.isNone(connection)) return
    yield* this.markConnected(connection.value)
    yield* this.deliver(connection.value)
    yield* connection.value.finish
    }).pipe(Effect.scoped, Effect.ensuring(this.markDown()))
  }

  /**
   * Dials, delivers and redials until the source has ended and this destination
   * is done. Meant to be the whole of a forked fiber: it annotates that fiber's
   * logs with the destination for good (no `annotateLogs` frame to restore
   * them, which a long-lived fiber would hold for its whole life), so await it
   * rather than join it.
   */
  run(): Effect.Effect<void> {
    const annotate = FiberRef.update(FiberRef.currentLogAnnotations, HashMap.set<string, unknown>("destination", this.health.name))
    return Effect.zipRight(annotate, this.redialLoop())
  }

  private redialLoop(): Effect.Effect<void> {
    return Effect.gen(this, function*() {
    const buffer = this.buffer
    let failures = 0
    while (true) {
      const outcome = yield* Effect.either(this.connectAndDeliver())
      if (Either.isRight(outcome)) break
      const error = outcome.left
      // A connection that worked for a while and then broke is redialled at once.
      // One that never came up, was cut for being too slow, or broke right away
      // (a destination that accepts and closes) waits longer each time.
      const now = yield* Clock.currentTimeMillis
      const lastedAWhile = now - this.connectedAt >= Duration.toMillis(maxRedialDelay)
      failures = error._tag === "ConnectionLost" && lastedAWhile ? 1 : failures + 1
      if (error._tag === "DestinationTooSlow") this.onProbation = true
      yield* this.options.link.reportDown(error)
      yield* Effect.logDebug(`redialling: ${error.message}`)
      // Once the source has ended, a destination that is down gets no new attempt.
      if (buffer.ended) break
      const delay = yield* (error._tag === "DestinationTooSlow"
        ? tooSlowRedialDelay(this.options.config.writeTimeout)
        : redialDelay(failures))
      yield* Effect.raceFirst(Effect.sleep(delay), buffer.changed.waitUntil(() => buffer.ended))
      if (buffer.ended) break
    }
    this.options.link.addDropped(buffer.discardQueued())
    })
  }
}

import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import type { Scope } from "effect"
import type * as net from "node:net"
import type { ProxyConfig } from "../Settings/Config.js"
import type { DestinationHealth } from "../Observability/DestinationHealth.js"
import type { Drain, Drainable } from "./Drain.js"
import { formatEndpoint } from "../Settings/Endpoint.js"
import type { ConnectionLost } from "../Errors.js"
import type { Flow, LinkSettings } from "./Forwarder.js"
import { Forwarder } from "./Forwarder.js"
import type { MessageFraming } from "../Framing/Framing.js"
import type { TooLong } from "../Framing/Scan.js"
import { describeTooLong, SourceFrames } from "../Framing/SourceFrames.js"
import type { IdleWatch, Watched } from "./IdleWatch.js"
import type { DestinationConfig } from "../Routes/Routes.js"
import { ConnectionCounters } from "../Observability/Stats.js"
import type { ProxyCounters } from "../Observability/Stats.js"
import * as Tcp from "./Tcp.js"
import { formatBytes } from "../Settings/Units.js"
import { monotonicMillis } from "./Wakeup.js"
import type { SendVersion } from "../ProxyProtocol/Header.js"
import { encodeHeader } from "../ProxyProtocol/Encode.js"
import type { Origin } from "../ProxyProtocol/Origin.js"
import type { RouteTls } from "../Tls/RouteTls.js"
import { formatAddress, originOf } from "../ProxyProtocol/Origin.js"

export interface SessionContext {
  readonly config: ProxyConfig
  readonly counters: ProxyCounters
  readonly drain: Drain
  readonly idle: IdleWatch
  /** The destinations with their own settings (buffer, timeouts, sample), in `counters.destinations`' order. */
  readonly links: ReadonlyArray<DestinationConfig>
  /** The route's open sessions, which a reload tells of destinations added and removed. */
  readonly sessions: Set<LiveSession>
  /** The route's certificates, read from its files (issue 12). */
  readonly tls: RouteTls
}

/** An open session, as a reload sees it. */
export interface LiveSession {
  /**
   * Follows a new destination list: each destination no longer in it gets what it
   * was given so far, then its connection is closed; each new one is connected and
   * forwarded what the source sends from now on. `healthOf` gives a destination's
   * shared state by its name.
   */
  follow(
    destinations: ReadonlyArray<DestinationConfig>,
    healthOf: (name: string) => DestinationHealth | undefined
  ): Effect.Effect<void>
}

const settingsOf = (
  link: DestinationConfig,
  framing: MessageFraming | undefined,
  preamble: Uint8Array | undefined,
  tls: RouteTls
): LinkSettings => ({
  bufferBytes: link.bufferBytes,
  writeTimeoutMillis: Duration.toMillis(link.writeTimeout),
  connectTimeoutMillis: Duration.toMillis(link.connectTimeout),
  framing,
  preamble,
  tls: tls.optionsFor(link)
})

/** Whether this connection is forwarded to `link`: each connection independently, with its `sample` share. */
const sampledIn = (link: DestinationConfig): boolean => link.sample >= 1 || Math.random() < link.sample

/**
 * One accepted connection: the source, whose chunks go straight from the
 * socket's data event to every forwarder, in order (no fiber runs per chunk), and
 * one forwarder per destination, whose fibers live in the session's FiberSet.
 *
 * It pauses the source while it waits for a forwarder: one whose write the kernel
 * pushed back, with more queued, for a moment (as plain Node would, so the kernel
 * gathers full reads while the destinations catch up), or one whose buffer is full.
 * The buffers take what comes while a destination lags past that moment, and all
 * that a destination that is down or connecting must not miss. After every change
 * it looks at every forwarder and keeps their stall clocks (see `Patience`).
 */
class Session implements Flow, Watched, Drainable, LiveSession {
  /** The forwarders the source's chunks go to. */
  forwarders: Array<Forwarder> = []
  /** Every forwarder, with those of destinations a reload removed that are still flushing. */
  private readonly all: Array<Forwarder> = []
  readonly counters: ConnectionCounters
  private readonly source: Tcp.InboundConnection
  private paused = false
  private ended = false
  private failure: ConnectionLost | undefined = undefined
  private idled = false
  lastActivity: number
  private open = 0
  readonly logAnnotations: Readonly<Record<string, unknown>>
  // Framing (issue 13); all undefined or empty with `none`.
  /** Where the source is in its stream of messages. */
  private readonly frames: SourceFrames | undefined
  /** Destinations a reload removed while the source was inside a message: they get it to its end, then finish. */
  private finishing: Array<Forwarder> = []
  /** The drain closes the source at the next message start. */
  private closeAtBoundary = false
  /** The source sent a message over --max-message and was closed. */
  private tooLong: TooLong | undefined = undefined
  /** The PROXY header each version of it sent on (issue 11), made once for the connection when first needed. */
  private headers: Partial<Record<SendVersion, Uint8Array>> | undefined = undefined

  constructor(
    private readonly socket: net.Socket,
    readonly id: number,
    readonly openedAt: number,
    private readonly context: SessionContext,
    private readonly clock: Clock.Clock,
    /** The session's fibers; `FiberSet.join` waits on its deferred, completed once the source has ended and every forwarder is done. */
    private readonly fibers: FiberSet.FiberSet<void, never>,
    /** Who the connection is for, as a PROXY header received said; the socket's ends when absent. */
    private origin: Origin | undefined
  ) {
    const { counters } = context
    this.lastActivity = monotonicMillis(clock)
    const peer = origin === undefined ? Tcp.peerOf(socket) : formatAddress(origin.source)
    this.logAnnotations = { connection: id, peer }
    const framing = context.config.framing
    this.frames = framing === "none" ? undefined : new SourceFrames(framing, context.config.maxMessageBytes)
    // Every forwarder exists, and dials, before the first byte is read, so none misses any.
    context.links.forEach((link, index) => {
      const health = counters.destinations[index]!
      if (sampledIn(link)) this.forwarders.push(new Forwarder(link, health, this.linkSettings(link), clock, this))
      else health.sampledOut++
    })
    this.all.push(...this.forwarders)
    this.open = this.forwarders.length
    this.counters = new ConnectionCounters(id, peer, openedAt, this.forwarders.map((f) => f.counters), counters)
    counters.open.set(id, this.counters)
    this.source = Tcp.inbound(socket, this)
    context.drain.add(this)
    context.idle.watch(this)
    context.sessions.add(this)
  }

  follow(
    destinations: ReadonlyArray<DestinationConfig>,
    healthOf: (name: string) => DestinationHealth | undefined
  ): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.ended) return Effect.void
      const now = monotonicMillis(this.clock)
      const wanted = new Set(destinations.map(formatEndpoint))
      const kept = this.forwarders.filter((forwarder) => wanted.has(forwarder.name))
      // A removed destination gets no more chunks; it flushes what it holds as at the source's end
      // (framed: once it has the rest of the message the source is in, so that it ends at a boundary).
      for (const forwarder of this.forwarders) {
        if (wanted.has(forwarder.name)) continue
        if (this.frames === undefined || this.frames.atBoundary) {
          forwarder.counters.until = this.counters.bytesReceived
          forwarder.sourceEnded(now)
        } else this.finishing.push(forwarder)
      }
      // A destination removed and added again gets a new link; the old one may still be flushing.
      const known = new Set(kept.map((forwarder) => forwarder.name))
      const added: Array<Forwarder> = []
      for (const link of destinations) {
        const name = formatEndpoint(link)
        const health = healthOf(name)
        if (known.has(name) || health === undefined) continue
        if (!sampledIn(link)) {
          health.sampledOut++
          continue
        }
        // Framed, it joins at the next message start.
        const forwarder = new Forwarder(link, health, this.linkSettings(link), this.clock, this, true)
        forwarder.counters.from = this.counters.bytesReceived
        added.push(forwarder)
        this.all.push(forwarder)
        this.counters.links.push(forwarder.counters)
        this.open++
      }
      this.forwarders = [...kept, ...added]
      this.changed()
      return Effect.forEach(added, (forwarder) => FiberSet.run(this.fibers, forwarder.run()), { discard: true })
    })
  }

  private linkSettings(link: DestinationConfig): LinkSettings {
    return settingsOf(link, this.frames?.framing, this.headerFor(link), this.context.tls)
  }

  private headerFor(link: DestinationConfig): Uint8Array | undefined {
    const version = link.sendProxyProtocol
    if (version === "off") return undefined
    // A destination added by a reload may be the first to want one.
    this.origin ??= originOf(this.socket, undefined)
    this.headers ??= {}
    return (this.headers[version] ??= encodeHeader(version, this.origin))
  }

  readonly onData = (chunk: Uint8Array): void => {
    if (chunk.length === 0) return
    this.lastActivity = monotonicMillis(this.clock)
    this.counters.addReceived(chunk.length)
    if (this.frames === undefined) { for (const forwarder of this.forwarders) forwarder.offer(chunk) }
    else this.offerMessages(chunk, this.frames)
    this.changed()
  }

  /**
   * Framed: scans the chunk once, and gives every forwarder the chunk with where
   * its first message starts and how many end in it. A message over
   * --max-message, or the drain, stops the stream at a message start: what comes
   * after it in the chunk is dropped for every destination, and the source closed.
   */
  private offerMessages(chunk: Uint8Array, frames: SourceFrames): void {
    const scanned = frames.scan(chunk)
    const firstStart = scanned.firstStart
    let stopAt = scanned.tooLong?.at ?? chunk.length
    let ends = scanned.ends
    if (this.closeAtBoundary && firstStart > 0 && firstStart < stopAt) {
      stopAt = firstStart
      ends = 1
    }
    this.counters.addReceivedMessages(scanned.ends)
    const kept = stopAt < chunk.length ? chunk.subarray(0, stopAt) : chunk
    const keptStart = firstStart < stopAt ? firstStart : -1
    if (kept.length > 0) { for (const forwarder of this.forwarders) forwarder.offerMessages(kept, keptStart, ends) }
    if (stopAt < chunk.length) {
      for (const forwarder of this.forwarders) {
        forwarder.counters.addDropped(chunk.length - stopAt)
        forwarder.counters.addDroppedMessages(scanned.ends - ends)
      }
    }
    if (this.finishing.length > 0) this.finishMessage(kept, keptStart, chunk.length)
    if (scanned.tooLong !== undefined) {
      this.tooLong = scanned.tooLong
      this.context.counters.framingErrors++
      this.source.close()
    } else if (this.closeAtBoundary && stopAt < chunk.length) {
      this.source.close()
    }
  }

  /** Framed: the removed destinations still inside a message get the chunk up to its first message start. */
  private finishMessage(chunk: Uint8Array, firstStart: number, received: number): void {
    const now = monotonicMillis(this.clock)
    const part = firstStart < 0 ? chunk : chunk.subarray(0, firstStart)
    for (const forwarder of this.finishing) {
      if (part.length > 0) forwarder.offerMessages(part, -1, firstStart > 0 ? 1 : 0)
      if (firstStart >= 0) {
        forwarder.counters.until = this.counters.bytesReceived - received + part.length
        forwarder.sourceEnded(now)
      }
    }
    if (firstStart >= 0) this.finishing = []
  }

  onEnd(failure: ConnectionLost | undefined): void {
    this.failure = failure
    this.ended = true
    // Flushing from now on: neither the idle watch nor the drain has anything left to close.
    this.context.drain.remove(this)
    this.context.idle.unwatch(this)
    const now = monotonicMillis(this.clock)
    for (const forwarder of this.forwarders) forwarder.sourceEnded(now)
    for (const forwarder of this.finishing) forwarder.sourceEnded(now)
    this.finishing = []
    this.finishIfDone()
  }

  /**
   * Drain: shutdown closes the source; the session flushes as on EOF. Framed, a
   * source inside a message is closed at the next message start.
   */
  close(): void {
    if (this.frames === undefined || this.frames.atBoundary) this.source.close()
    else this.closeAtBoundary = true
  }

  closeIdle(): void {
    this.idled = true
    this.source.close()
  }

  written(): void {
    if (this.paused) this.changed()
  }

  /** Looks at every forwarder: who holds the source back, who is blamed for it; pauses or resumes the source. */
  changed(): void {
    const forwarders = this.forwarders
    const now = monotonicMillis(this.clock)
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
    const pause = waitedFor > 0 && !this.ended
    if (pause === this.paused) return
    this.paused = pause
    if (pause) this.source.pause()
    else this.source.resume()
  }

  forwarderDone(): void {
    this.open--
    this.finishIfDone()
  }

  private finishIfDone(): void {
    if (this.ended && this.open === 0) Deferred.unsafeDone(this.fibers.deferred, Exit.void)
  }

  /** Closes everything the session holds: the source, every destination connection; forgets it. */
  release(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.source.close()
      for (const forwarder of this.all) forwarder.closed()
      this.context.drain.remove(this)
      this.context.idle.unwatch(this)
      this.context.sessions.delete(this)
      return this.context.counters.release(this.counters)
    })
  }

  logClosed(): Effect.Effect<void> {
    return Effect.flatMap(Clock.currentTimeMillis, (closedAt) => {
      const counters = this.counters
      const lasted = closedAt - this.openedAt
      // A source closed for its framing says so in this one line, as a warning.
      return (this.tooLong === undefined ? Effect.logInfo : Effect.logWarning)(
        `connection closed (${this.endReason()}) after ${Duration.format(Duration.millis(lasted))}: ${
          summary(counters)
        }`
      ).pipe(
        Effect.annotateLogs({
          ...this.logAnnotations,
          bytesIn: counters.bytesReceived,
          durationMs: lasted,
          links: counters.linkTotals()
        })
      )
    })
  }

  private endReason(): string {
    const config = this.context.config
    return this.tooLong !== undefined && this.frames !== undefined
      ? `closed the source: route ${config.name ?? "default"} has framing ${this.frames.framing}, and the source sent ${
        describeTooLong(this.frames.framing, this.tooLong.size)
      }, over --max-message ${formatBytes(this.frames.maxMessageBytes)}`
      : this.failure !== undefined
      ? `source failed: ${this.failure.reason}`
      : this.idled
      ? `source idle for ${Duration.format(this.context.config.idleTimeout)}`
      : this.context.drain.draining
      ? "proxy shutting down"
      : "source closed the connection"
  }
}

const summary = (counters: ConnectionCounters): string =>
  [
    `received ${formatBytes(counters.bytesReceived)}`,
    ...counters.links.map((link) =>
      `${link.health.name}: delivered ${formatBytes(link.delivered)}, dropped ${formatBytes(link.dropped)}`
    )
  ].join("; ")

/** Opens the session in `scope`: its forwarders dialling, its source read, its fibers in `fibers`. */
const openSession = (
  socket: net.Socket,
  context: SessionContext,
  fibers: FiberSet.FiberSet<void, never>,
  origin: Origin | undefined
): Effect.Effect<Session, never, Scope.Scope> =>
  Effect.gen(function*() {
    const id = ++context.counters.acceptedConnections
    const clock = yield* Effect.clock
    // The set's `join` waits on its deferred, which the set completes with the first
    // failure of a fiber in it; the session completes it once all is done.
    const session = yield* Effect.acquireRelease(
      Effect.sync(() => new Session(socket, id, clock.unsafeCurrentTimeMillis(), context, clock, fibers, origin)),
      (session) => session.release()
    )
    yield* Effect.annotateLogs(Effect.logInfo("connection opened"), session.logAnnotations)
    for (const forwarder of session.forwarders) yield* FiberSet.run(fibers, forwarder.run())
    return session
  })

/**
 * One accepted connection, from accept to close. The session waits on its
 * FiberSet: it ends when the source has ended and every forwarder is done, or
 * with the first defect of any fiber in it (which the listener logs). Either way
 * its scope then closes, which interrupts every fiber in the set and closes every
 * socket of the connection. Its log lines carry the connection's id and peer as
 * annotations, each line its own: no frame or fiber-local copy for its whole life.
 */
export const runSession = (
  socket: net.Socket,
  context: SessionContext,
  origin?: Origin
): Effect.Effect<void> =>
  Effect.scoped(
    Effect.flatMap(FiberSet.make<void, never>(), (fibers) =>
      Effect.flatMap(openSession(socket, context, fibers, origin), (session) =>
        Effect.zipRight(FiberSet.join(fibers), session.logClosed())))
  )

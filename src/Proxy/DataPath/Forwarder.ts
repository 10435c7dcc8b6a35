import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { Clock } from "effect"
import { maxRedialDelay, redialDelay, tooSlowRedialDelay } from "./Backoff.js"
import type { DestinationHealth } from "../Observability/DestinationHealth.js"
import type { Endpoint } from "../Settings/Endpoint.js"
import type { MessageFraming } from "../Framing/Framing.js"
import { OutboundBuffer } from "./OutboundBuffer.js"
import * as Patience from "./Patience.js"
import { LinkCounters } from "../Observability/Stats.js"
import * as Tcp from "./Tcp.js"
import type * as tls from "node:tls"
import { peerCertificateExpiry } from "../Tls/Handshake.js"
import { monotonicMillis, Wakeup } from "./Wakeup.js"

/**
 * One destination of one source connection: a state machine driven by socket
 * callbacks on the hot path and by one fiber for everything that takes time.
 *
 *   Starting ──connected──▶ Connected ──all delivered after the source ended──▶ Finishing ──▶ Closed
 *      │                      │  ▲
 *      │ failed, or held      │  │ redial connected
 *      │ the source back      ▼  │
 *      └───────────────────▶ Down ──source ended──▶ Closed
 *
 * - Starting: the first connection attempt is under way. What the source sends is
 *   held, and the source waits while the buffer is full (but not past its patience:
 *   then the link goes Down, its attempt still under way), so a destination that is
 *   slow to accept does not lose the first bytes.
 * - Connected: chunks are written as they come, one write in flight at a time; what
 *   comes meanwhile queues and goes out as one batch. The source waits while the write
 *   is pushed back with more queued behind it (as plain Node would) or the buffer is
 *   full, for at most its patience (see `Patience`); then the connection is cut.
 * - Down: no connection to write to. The newest `--buffer` bytes are kept, older ones
 *   are counted as dropped, and the source never waits. The fiber redials with backoff.
 * - Finishing: everything was delivered after the source ended; the connection is
 *   half-closed and the link waits for the peer's close, briefly.
 *
 * Socket callbacks move the link between states synchronously (connected, lost, a
 * write done); the fiber moves it when time is up (a cut, an attempt timed out, a
 * redial due, the end). Every state change is one of the methods under
 * "Transitions", and the fiber is woken (`Wakeup`) by those its next step depends on.
 * So each destination connection carries one contiguous run of the source's bytes:
 * gaps only ever fall between connections.
 */

/** The session a link belongs to, told when the link's part in holding the source back may have changed. */
export interface Flow {
  /** Something other than a new chunk changed what this link takes: look at every link again. */
  changed(): void
  /** A write of this link completed. */
  written(): void
  /** The link is closed and its fiber ends. */
  forwarderDone(): void
  /** What every log line of the connection carries (its id and peer). */
  readonly logAnnotations: Readonly<Record<string, unknown>>
}

export interface LinkSettings {
  readonly bufferBytes: number
  readonly writeTimeoutMillis: number
  readonly connectTimeoutMillis: number
  /** The route's framing, undefined for `none`: the link then starts and cleanly ends connections at message starts. */
  readonly framing: MessageFraming | undefined
  /** What every connection begins with, before any of the source's bytes: the PROXY header (issue 11), if sent. */
  readonly preamble: Uint8Array | undefined
  /** A `tls://` destination: how its connections are made (issue 12). */
  readonly tls: tls.ConnectionOptions | undefined
}

export type Write =
  | { readonly _tag: "Idle" }
  /** Handed to the socket at `since`; `pushedBack` once the kernel did not take it at once. */
  | { readonly _tag: "InFlight"; readonly since: number; readonly pushedBack: boolean }

/** A connection attempt under way since `since`. */
export interface Attempt {
  readonly connection: Tcp.OutboundConnection
  readonly since: number
}

/** Why the last connection or attempt ended: for the log, the counters and the backoff. */
export interface LinkFailure {
  readonly _tag: "ConnectError" | "ConnectionLost" | "DestinationTooSlow"
  /** Short, as in "connection refused (ECONNREFUSED)". */
  readonly reason: string
}

const describeFailure = (failure: LinkFailure, destination: string): string => {
  switch (failure._tag) {
    case "ConnectError":
      return `cannot connect to ${destination}: ${failure.reason}`
    case "ConnectionLost":
      return `connection to ${destination} lost: ${failure.reason}`
    case "DestinationTooSlow":
      return `cut the connection to ${destination}: ${failure.reason}`
  }
}

export type LinkState =
  | { readonly _tag: "Starting"; readonly attempt: Attempt }
  | {
    readonly _tag: "Connected"
    readonly connection: Tcp.OutboundConnection
    readonly since: number
    /** Failures in a row before this connection, for the backoff if it breaks soon. */
    readonly failures: number
    /** The one field that changes while connected: once per write, on the hot path. */
    write: Write
  }
  | {
    readonly _tag: "Down"
    readonly since: number
    readonly failures: number
    /** What ended the last connection or attempt; none when a first attempt stopped holding the source back. */
    readonly failure: LinkFailure | undefined
    /** A redial under way. */
    readonly attempt: Attempt | undefined
    /** When the next attempt is due; undefined until the fiber has drawn the backoff. */
    readonly redialAt: number | undefined
  }
  | { readonly _tag: "Finishing"; readonly connection: Tcp.OutboundConnection; readonly since: number }
  | { readonly _tag: "Closed" }

type Connected = Extract<LinkState, { _tag: "Connected" }>

const idle: Write = { _tag: "Idle" }

/** A destination whose certificate is not verified (`insecure-skip-verify`, the file only). */
export const insecureWarning = (destination: string): string =>
  `destination ${destination}: insecure-skip-verify is on: its certificate is not verified, so anyone on the ` +
  "path can read and change what it is sent"

/** The most handed to the socket in one write: small enough to keep delivery counts and timeouts fine-grained. */
const maxWriteBytes = 256 * 1024

const lingerMillis = Duration.toMillis(Tcp.lingerAfterEnd)

interface LogLine {
  readonly warning: boolean
  readonly text: string
}

export class Forwarder implements Tcp.OutboundHandlers {
  private state: LinkState
  readonly buffer: OutboundBuffer
  readonly counters: LinkCounters
  private readonly wakeup = new Wakeup()
  /** When the source ended; undefined while it is open. */
  private sourceEndedAt: number | undefined = undefined
  /** Lines the transitions produced, for the fiber to log (socket callbacks cannot). */
  private toLog: Array<LogLine> | undefined = undefined
  /** A failure was counted and no connection came up since: the next one is a reconnect. */
  private failedSinceConnected = false

  // The stall policy's numbers (see `Patience`), kept by the fan-out's look at every link.
  blamedSince: number | undefined = undefined
  lastHeldAt = 0
  /** Its role at the fan-out's last look. */
  private lastRole: Patience.Role = "other"
  /** Cut for being too slow, and not yet trusted again. */
  onProbation = false
  /** The connection's log annotations and this destination. */
  private readonly logAnnotations: Readonly<Record<string, unknown>>

  constructor(
    private readonly destination: Endpoint,
    private readonly health: DestinationHealth,
    private readonly settings: LinkSettings,
    private readonly clock: Clock.Clock,
    private readonly flow: Flow,
    /** Framed only: added to a source already streaming (a reload), so its first byte must start a message. */
    midStream = false
  ) {
    this.logAnnotations = { ...flow.logAnnotations, destination: health.name }
    this.buffer = new OutboundBuffer(settings.bufferBytes, settings.framing)
    this.counters = new LinkCounters(health, this.buffer)
    this.buffer.tally = this.counters
    if (midStream) this.buffer.restartAtMessage()
    // Said on every connection's first attempt, so it is never lost in a long-running log.
    if (settings.tls?.rejectUnauthorized === false) this.log(true, insecureWarning(health.name))
    const now = this.now()
    // A destination other connections already know to be down gets no benefit of the doubt.
    this.state = health.state === "down"
      ? { _tag: "Down", since: now, failures: 0, failure: undefined, attempt: undefined, redialAt: now }
      : { _tag: "Starting", attempt: this.dial(now) }
  }

  private now(): number {
    return monotonicMillis(this.clock)
  }

  /** The destination, as configured (`host:port`). */
  get name(): string {
    return this.health.name
  }

  get patience(): number {
    return Patience.patienceMillis(this.settings.writeTimeoutMillis, this.onProbation)
  }

  // -------------------------------------------------------------------------
  // The hot path: called by the fan-out for every chunk, and by write completions

  /** Takes all of `chunk`: holds it for the destination, or, while down, keeps only the newest bytes. */
  offer(chunk: Uint8Array): void {
    const state = this.state
    if (state._tag === "Connected") {
      this.buffer.append(chunk)
      if (state.write._tag === "Idle") this.startWrite(state)
    } else if (state._tag === "Starting") {
      this.buffer.append(chunk)
    } else if (state._tag === "Down") {
      this.counters.addDropped(this.buffer.appendEvictingOldest(chunk))
    }
  }

  /**
   * Framed: takes `chunk`, whose first message starts at `firstStart` (-1: none)
   * and in which `ends` messages end; holds it, from a message start if the
   * connection is new, or, while down, keeps only the newest whole messages.
   */
  offerMessages(chunk: Uint8Array, firstStart: number, ends: number): void {
    const state = this.state
    let dropped = 0
    if (state._tag === "Connected") {
      dropped = this.buffer.appendMessages(chunk, firstStart, ends)
      if (state.write._tag === "Idle" && this.buffer.queuedBytes > 0) this.startWrite(state)
    } else if (state._tag === "Starting") {
      dropped = this.buffer.appendMessages(chunk, firstStart, ends)
    } else if (state._tag === "Down") {
      dropped = this.buffer.appendMessagesEvictingOldest(chunk, firstStart, ends)
    }
    if (dropped > 0) this.counters.addDropped(dropped)
  }

  /** What this link is doing for the source at `now` (see `Patience.Role`). */
  role(now: number): Patience.Role {
    const state = this.state
    if (state._tag === "Connected") {
      if (this.buffer.full) return "holding"
      const write = state.write
      if (write._tag !== "InFlight" || !write.pushedBack) return "hungry"
      return this.buffer.queuedBytes > 0 && now < write.since + Patience.pushBackGraceMillis ? "busy" : "other"
    }
    return state._tag === "Starting" && this.buffer.full ? "holding" : "other"
  }

  /** The fan-out looked at every link at `now`: keep the stall clock (see `Patience`). */
  judge(role: Patience.Role, othersHungry: boolean, anyHolding: boolean, now: number): void {
    const before = this.blamedSince
    this.lastHeldAt = Patience.nextLastHeldAt(this.lastRole, role, this.lastHeldAt, now)
    this.lastRole = role
    this.blamedSince = Patience.nextBlamedSince(this, role, othersHungry, anyHolding, now, this.patience)
    if (this.onProbation) {
      const connectedAt = this.state._tag === "Connected" ? this.state.since : undefined
      this.onProbation = Patience.staysOnProbation(
        true,
        connectedAt,
        this.lastHeldAt,
        now,
        this.settings.writeTimeoutMillis
      )
    }
    // A stretch of blame that starts brings a deadline the fiber must wait for.
    if (before === undefined && this.blamedSince !== undefined) this.wakeup.wakeBy(this.blamedSince + this.patience)
  }

  /** The source has ended: flush what is held, then close. */
  sourceEnded(now: number): void {
    this.sourceEndedAt = now
    this.wakeup.wake()
  }

  private startWrite(state: Connected): void {
    const connection = state.connection
    const write: Write = { _tag: "InFlight", since: this.now(), pushedBack: false }
    state.write = write
    connection.send(this.buffer.takeForWrite(maxWriteBytes))
    // (`send` settles at once on a connection that has already failed.)
    if (state.write === write && this.state === state && connection.pushingBack()) {
      state.write = { _tag: "InFlight", since: write.since, pushedBack: true }
      // Past the grace, the source stops waiting for it: the fiber must look then.
      this.wakeup.wakeBy(write.since + Patience.pushBackGraceMillis)
    }
  }

  /** @internal The socket took the last write, or failed. */
  onWritten(connection: Tcp.OutboundConnection, failure: string | undefined): void {
    const state = this.state
    // A write of a connection given up on settles nothing: the transition counted it.
    if (state._tag !== "Connected" || state.connection !== connection) return
    state.write = idle
    if (failure !== undefined) return this.lost(state, failure)
    this.counters.addDelivered(this.buffer.settleWrite())
    if (this.buffer.queuedBytes > 0) this.startWrite(state)
    else if (this.sourceEndedAt !== undefined) this.wakeup.wake()
    this.flow.written()
  }

  // -------------------------------------------------------------------------
  // Transitions: every change of `state` is here

  private dial(now: number): Attempt {
    return { connection: Tcp.open(this.destination, this, true, this.settings.tls), since: now }
  }

  /** @internal Starting or Down with an attempt under way → Connected. */
  onConnect(connection: Tcp.OutboundConnection): void {
    const state = this.state
    if ((state._tag !== "Starting" && state._tag !== "Down") || state.attempt?.connection !== connection) return
    const now = this.now()
    this.state = {
      _tag: "Connected",
      connection,
      since: now,
      failures: state._tag === "Down" ? state.failures : 0,
      write: idle
    }
    this.blamedSince = undefined
    if (this.settings.tls !== undefined) this.health.certificateExpiry = peerCertificateExpiry(connection.socket)
    // Written before the held bytes, so ahead of them; not the source's, so not counted as delivered.
    if (this.settings.preamble !== undefined) connection.sendPreamble(this.settings.preamble)
    this.counters.connected = true
    if (this.failedSinceConnected) {
      this.failedSinceConnected = false
      this.health.reconnects++
    }
    this.log(false, this.health.markUp(now))
    if (this.buffer.queuedBytes > 0) this.startWrite(this.state)
    this.wakeup.wake()
    this.flow.changed()
  }

  /** @internal Any state with a socket, when that socket fails or closes. */
  onLost(connection: Tcp.OutboundConnection, reason: string): void {
    const state = this.state
    switch (state._tag) {
      case "Starting":
      case "Down":
        if (state.attempt?.connection === connection) this.attemptFailed(state, reason)
        return
      case "Connected":
        if (state.connection === connection) this.lost(state, reason)
        return
      case "Finishing":
        if (state.connection === connection) this.closed()
        return
    }
  }

  /** Starting or Down with an attempt under way → Down: the attempt failed or timed out. */
  private attemptFailed(state: Extract<LinkState, { _tag: "Starting" | "Down" }>, reason: string): void {
    state.attempt?.connection.close()
    const failures = (state._tag === "Down" ? state.failures : 0) + 1
    this.health.connectFailures++
    if (state.attempt?.connection.failedHandshake === true) this.health.tlsHandshakeFailures++
    this.down(failures, { _tag: "ConnectError", reason })
  }

  /** Connected → Down: the connection broke. One that lasted a while is redialled at once. */
  private lost(state: Connected, reason: string): void {
    state.connection.close()
    const lastedAWhile = this.now() - state.since >= Duration.toMillis(maxRedialDelay)
    this.disconnected()
    this.restartAtMessage()
    this.down(lastedAWhile ? 1 : state.failures + 1, { _tag: "ConnectionLost", reason })
  }

  /** Connected → Down: the destination held the source back too long. */
  private cut(state: Connected, reason: string): void {
    this.closeMidStream(state.connection)
    this.disconnected()
    this.restartAtMessage()
    this.health.writeStallsCut++
    this.onProbation = true
    this.down(state.failures + 1, { _tag: "DestinationTooSlow", reason })
  }

  /** Starting → Down: the first attempt took too long to hold the source back for; it goes on, lossy. */
  private stopHoldingBack(state: Extract<LinkState, { _tag: "Starting" }>): void {
    this.state = {
      _tag: "Down",
      since: this.now(),
      failures: 0,
      failure: undefined,
      attempt: state.attempt,
      redialAt: undefined
    }
    this.blamedSince = undefined
    this.flow.changed()
  }

  /** Down → Down with a redial under way. */
  private redial(state: Extract<LinkState, { _tag: "Down" }>): void {
    this.state = { ...state, attempt: this.dial(this.now()) }
  }

  /** Down, waiting → Down, with the redial due at `redialAt`. */
  private scheduleRedial(state: Extract<LinkState, { _tag: "Down" }>, redialAt: number): void {
    this.state = { ...state, redialAt }
  }

  /** Connected → Finishing: everything was delivered after the source ended. */
  private finish(state: Connected): void {
    state.connection.finish()
    this.disconnected()
    this.state = { _tag: "Finishing", connection: state.connection, since: this.now() }
  }

  /** Any state → Closed: the link is done, or its session is closing (what it still holds is then dropped). */
  closed(): void {
    const state = this.state
    if (state._tag === "Closed") return
    this.counters.addDropped(this.buffer.abandonWrite() + this.buffer.discardQueued())
    if (state._tag === "Connected") {
      this.disconnected()
      this.closeMidStream(state.connection)
    }
    if (state._tag === "Finishing") state.connection.close()
    if ((state._tag === "Starting" || state._tag === "Down") && state.attempt !== undefined) {
      state.attempt.connection.close()
    }
    this.state = { _tag: "Closed" }
    this.wakeup.wake()
  }

  private down(failures: number, failure: LinkFailure): void {
    this.counters.addDropped(this.buffer.abandonWrite())
    this.failedSinceConnected = true
    this.state = { _tag: "Down", since: this.now(), failures, failure, attempt: undefined, redialAt: undefined }
    this.blamedSince = undefined
    this.log(
      true,
      this.health.markDown(failure._tag === "DestinationTooSlow" ? "too slow" : "down", failure.reason, this.now())
    )
    this.wakeup.wake()
    this.flow.changed()
  }

  /** Framed: the next connection gets bytes from a message start on; what comes before is dropped. */
  private restartAtMessage(): void {
    if (this.settings.framing !== undefined) this.counters.addDropped(this.buffer.restartAtMessage())
  }

  /**
   * Closes a connection the proxy gives up on while it may be inside a message:
   * framed, with a reset, so its destination never sees a clean end there.
   */
  private closeMidStream(connection: Tcp.OutboundConnection): void {
    if (this.settings.framing !== undefined) connection.reset()
    else connection.close()
  }

  private disconnected(): void {
    this.counters.connected = false
    this.health.reportDisconnected()
  }

  private log(warning: boolean, text: string | undefined): void {
    if (text !== undefined) (this.toLog ??= []).push({ warning, text })
  }

  // -------------------------------------------------------------------------
  // The fiber: whatever takes time

  /**
   * Runs the link until it is closed: after the source has ended and this
   * destination is done, or when the session closes. Its log lines carry the
   * connection and the destination as annotations, each line its own, so no
   * frame or fiber-local copy is kept for the link's whole life.
   */
  run(): Effect.Effect<void> {
    return this.loop
  }

  /**
   * One look at the link, then the next: written as a chain of Effects rather
   * than a generator, so a link waiting for something to happen holds one frame.
   */
  private readonly loop: Effect.Effect<void> = Effect.suspend(() => {
    const lines = this.toLog
    this.toLog = undefined
    const next = this.look()
    if (lines === undefined) return next
    return Effect.zipRight(
      Effect.annotateLogs(
        Effect.forEach(lines, (line) => line.warning ? Effect.logWarning(line.text) : Effect.logInfo(line.text), {
          discard: true
        }),
        this.logAnnotations
      ),
      next
    )
  })

  private look(): Effect.Effect<void> {
    const state = this.state
    if (state._tag === "Closed") {
      this.flow.forwarderDone()
      return Effect.void
    }
    if (state._tag === "Down" && state.attempt === undefined && state.redialAt === undefined) {
      return Effect.zipRight(this.drawBackoff(state), this.loop)
    }
    const now = this.now()
    const deadline = this.step(state, now)
    return deadline === undefined ? this.loop : Effect.zipRight(this.wakeup.waitUntil(deadline, now), this.loop)
  }

  /** Does what is due in `state` at `now`; returns when to look again, or undefined to look again at once. */
  private step(state: Exclude<LinkState, { _tag: "Closed" }>, now: number): number | undefined {
    switch (state._tag) {
      case "Down":
        if (state.attempt === undefined) {
          // Once the source has ended, a destination that is down gets no new attempt.
          if (this.sourceEndedAt !== undefined) return this.giveUp()
          if (state.redialAt === undefined || now >= state.redialAt) this.redial(state)
          else return state.redialAt
          return undefined
        }
        return this.stepAttempt(state, state.attempt, now)
      case "Starting":
        // Holding the source back is judged on a fresh look at every link, not on the last one.
        this.flow.changed()
        if (now >= Patience.stopsHoldingBackAt(this.blamedSince, this.patience)) {
          this.stopHoldingBack(state)
          return undefined
        }
        return this.stepAttempt(state, state.attempt, now)
      case "Connected": {
        const write = state.write
        const pushedBackSince = write._tag === "InFlight" && write.pushedBack ? write.since : undefined
        // A stall deadline, or the end of the grace, is judged on a fresh look at every link.
        if (this.blamedSince !== undefined || pushedBackSince !== undefined) this.flow.changed()
        if (this.state !== state) return undefined
        const graceEnd = pushedBackSince === undefined
          ? Number.POSITIVE_INFINITY
          : pushedBackSince + Patience.pushBackGraceMillis
        const verdict = Patience.connectedVerdict({
          now,
          writeTimeoutMillis: this.settings.writeTimeoutMillis,
          patience: this.patience,
          sourceEndedAt: this.sourceEndedAt,
          heldBytes: this.buffer.heldBytes,
          pushedBackSince,
          blamedSince: this.blamedSince
        })
        if (verdict._tag === "WaitUntil")
          return now < graceEnd
            ? Math.min(verdict.deadline, graceEnd)
            : verdict.deadline
        if (verdict._tag === "Done") this.finish(state)
        else this.cut(state, verdict.reason)
        return undefined
      }
      case "Finishing": {
        const closeAt = state.since + lingerMillis
        if (now < closeAt) return closeAt
        this.closed()
        return undefined
      }
    }
  }

  private stepAttempt(
    state: Extract<LinkState, { _tag: "Starting" | "Down" }>,
    attempt: Attempt,
    now: number
  ): number | undefined {
    const verdict = Patience.dialVerdict({
      now,
      startedAt: attempt.since,
      connectTimeoutMillis: this.settings.connectTimeoutMillis,
      nothingToSend: this.sourceEndedAt !== undefined && this.buffer.heldBytes === 0,
      blamedSince: state._tag === "Starting" ? this.blamedSince : undefined,
      patience: this.patience
    })
    if (verdict._tag === "WaitUntil") return verdict.deadline
    if (verdict._tag === "Done") return this.giveUp()
    this.attemptFailed(state, verdict.reason)
    return undefined
  }

  /** The source has ended and there is nothing this destination can still be given: drop what is held, close. */
  private giveUp(): undefined {
    this.counters.addDropped(this.buffer.discardQueued())
    this.closed()
    return undefined
  }

  private drawBackoff(state: Extract<LinkState, { _tag: "Down" }>): Effect.Effect<void> {
    const failure = state.failure
    const delay = failure?._tag === "DestinationTooSlow"
      ? tooSlowRedialDelay(Duration.millis(this.settings.writeTimeoutMillis))
      : failure === undefined
      ? Effect.succeed(Duration.zero)
      : redialDelay(state.failures)
    const drawn = Effect.map(delay, (delay) => {
      if (this.state === state) this.scheduleRedial(state, this.now() + Duration.toMillis(delay))
    })
    return failure === undefined
      ? drawn
      : Effect.zipRight(
        Effect.annotateLogs(
          Effect.logDebug(`redialling: ${describeFailure(failure, this.health.name)}`),
          this.logAnnotations
        ),
        drawn
      )
  }
}

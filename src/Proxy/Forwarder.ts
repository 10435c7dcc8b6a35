import { Clock, Duration, Effect, Either, Option, Queue } from "effect"
import { maxRedialDelay, redialDelay } from "./Backoff.js"
import type { ProxyConfig } from "./Config.js"
import type { Endpoint } from "./Endpoint.js"
import { DestinationTooSlow } from "./Errors.js"
import type { LinkCounters } from "./Stats.js"
import * as Tcp from "./Tcp.js"

/** Marks the end of a source's bytes in the feed: flush, then close. */
export const EndOfFeed: unique symbol = Symbol("EndOfFeed")
export type FeedItem = Uint8Array | typeof EndOfFeed

export interface ForwarderOptions {
  readonly destination: Endpoint
  /** This forwarder's subscription to the source's feed. */
  readonly feed: Queue.Dequeue<FeedItem>
  readonly config: ProxyConfig
  readonly link: LinkCounters
}

/** The most handed to the socket in one write: small enough to keep delivery counts and timeouts fine-grained. */
const maxWriteBytes = 256 * 1024

type Mode = "starting" | "connected" | "down"

/**
 * Forwards one source's bytes to one destination until the source ends, and
 * handles every failure of that destination itself: it never fails, so one bad
 * destination cannot stop the others.
 *
 * Two fibers share the link's buffer. The connector dials with backoff and,
 * once connected, writes the buffer out in batches. The pump moves the feed into
 * the buffer, depending on the link's mode:
 * - starting (first attempt under way) or connected: it waits for room, which
 *   back-pressures the source, but for at most `writeTimeout` at a stretch;
 *   then a connected destination is cut (and redialled), a starting one goes down;
 * - down (a connection failed, redialling): it keeps only the newest
 *   `bufferBytes` and counts the rest as dropped, so a dead destination never
 *   holds the source back.
 * So each destination connection carries one contiguous run of the source's
 * bytes: gaps only ever fall between connections.
 */
export const forward = (options: ForwarderOptions): Effect.Effect<void> => {
  const { config, feed, link } = options
  const buffer = link.buffer
  const health = link.health
  const writeTimeoutMillis = Duration.toMillis(config.writeTimeout)
  // Shared by the two fibers; every change is followed by buffer.changed.notify().
  const state = {
    // A destination other connections already know to be down gets no benefit of the doubt.
    mode: (health.state === "down" ? "down" : "starting") as Mode,
    /** Set by the pump when the destination held the source back too long. */
    cutReason: undefined as string | undefined,
    /** When the pump started waiting on this destination, in the current mode, without catching up since. */
    stalledSince: undefined as number | undefined,
    /**
     * Set when the destination is cut for being too slow. A fresh connection
     * swallows megabytes into kernel buffers before it can fall behind again, so
     * until it has kept up for a whole `writeTimeout`, it may hold the source back
     * for only a tenth of that at a stretch.
     */
    onProbation: false,
    /** When the current (or last) connection came up. */
    connectedAt: 0,
    /** When the pump last found the buffer full. */
    lastFullAt: 0
  }

  const setMode = (mode: Mode) => {
    state.mode = mode
    state.stalledSince = undefined
    state.cutReason = undefined
    buffer.changed.notify()
  }

  const currentMode = (): Mode => state.mode

  const patienceMillis = () => (state.onProbation ? writeTimeoutMillis / 10 : writeTimeoutMillis)

  const waitForRoom = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const entryMode = currentMode()
    if (entryMode === "down") return
    state.lastFullAt = now
    state.stalledSince ??= now
    const left = patienceMillis() - (now - state.stalledSince)
    const gotRoom = left > 0 && Option.isSome(
      yield* buffer.changed.waitUntil(() => buffer.room > 0 || state.mode !== entryMode).pipe(
        Effect.timeoutOption(Duration.millis(left))
      )
    )
    // A new mode (a connection came up, or went down) starts a new stretch: the caller comes back.
    const mode = currentMode()
    if (gotRoom || mode !== entryMode) return
    if (mode === "starting") {
      // The first attempt is taking long: stop holding the source back for it.
      setMode("down")
      return
    }
    state.cutReason = `it held the source back for ${Duration.format(Duration.millis(patienceMillis()))}`
    buffer.changed.notify()
    yield* buffer.changed.waitUntil(() => state.mode !== "connected")
  })

  const accept = (chunk: Uint8Array) =>
    Effect.gen(function*() {
      let rest = chunk
      while (rest.length > 0) {
        if (state.mode === "down") {
          link.addDropped(buffer.appendEvictingOldest(rest))
          return
        }
        rest = buffer.appendWithinRoom(rest)
        if (rest.length > 0) yield* waitForRoom
      }
    })

  /** The pump has caught up with the source while delivering: nothing holds the source back now. */
  const noteCaughtUp = Effect.gen(function*() {
    state.stalledSince = undefined
    if (!state.onProbation || state.mode !== "connected") return
    const now = yield* Clock.currentTimeMillis
    if (now - Math.max(state.connectedAt, state.lastFullAt) >= writeTimeoutMillis) state.onProbation = false
  })

  const pump = Effect.gen(function*() {
    while (true) {
      const items = yield* Queue.takeBetween(feed, 1, Number.MAX_SAFE_INTEGER)
      for (const item of items) {
        if (item === EndOfFeed) {
          buffer.end()
          return
        }
        yield* accept(item)
      }
      if (state.mode !== "down" && (yield* Queue.isEmpty(feed))) yield* noteCaughtUp
    }
  })

  const deliver = (connection: Tcp.OutboundConnection) =>
    Effect.gen(function*() {
      /** Once the source has ended, the destination has `writeTimeout` in all to take the rest. */
      let flushDeadline: number | undefined
      while (true) {
        yield* buffer.changed.waitUntil(() => buffer.queuedBytes > 0 || buffer.ended)
        if (buffer.queuedBytes === 0) return
        const now = yield* Clock.currentTimeMillis
        if (buffer.ended) flushDeadline ??= now + writeTimeoutMillis
        const timeout = flushDeadline === undefined
          ? config.writeTimeout
          : Duration.millis(Math.max(0, flushDeadline - now))
        yield* connection.write(buffer.takeForWrite(maxWriteBytes)).pipe(
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () =>
              new DestinationTooSlow({
                destination: health.name,
                reason: flushDeadline === undefined
                  ? `a write did not complete within ${Duration.format(config.writeTimeout)}`
                  : `it did not take the rest within ${Duration.format(config.writeTimeout)} of the source's end`
              })
          })
        )
        link.addDelivered(buffer.settleWrite())
      }
    })

  const cutRequested = buffer.changed.waitUntil(() => state.cutReason !== undefined).pipe(
    Effect.zipRight(
      Effect.suspend(() => Effect.fail(new DestinationTooSlow({ destination: health.name, reason: state.cutReason ?? "" })))
    )
  )

  const markDown = Effect.sync(() => {
    if (state.mode === "connected") health.reportDisconnected()
    link.connected = false
    link.addDropped(buffer.abandonWrite())
    setMode("down")
  })

  const markConnected = Effect.gen(function*() {
    state.connectedAt = yield* Clock.currentTimeMillis
    link.connected = true
    setMode("connected")
    yield* health.reportUp()
  }).pipe(Effect.uninterruptible)

  /** Once the source has ended with nothing left to send, a connection would only be opened to be closed. */
  const nothingToSend = buffer.changed.waitUntil(() => buffer.ended && buffer.queuedBytes === 0)

  /** Connects, delivers until the source ends, then closes gracefully; fails if the connection fails. */
  const connectAndDeliver = Effect.gen(function*() {
    const connection = yield* Effect.raceFirst(
      Effect.asSome(Tcp.connect(options.destination, config.connectTimeout)),
      Effect.as(nothingToSend, Option.none())
    )
    if (Option.isNone(connection)) return
    yield* markConnected
    yield* Effect.raceFirst(deliver(connection.value), Effect.raceFirst(connection.value.lost, cutRequested))
    yield* connection.value.finish
  }).pipe(Effect.scoped, Effect.ensuring(markDown))

  const connector = Effect.gen(function*() {
    let failures = 0
    while (true) {
      const outcome = yield* Effect.either(connectAndDeliver)
      if (Either.isRight(outcome)) break
      const error = outcome.left
      // A connection that worked for a while and then broke is redialled at once.
      // One that never came up, was cut for being too slow, or broke right away
      // (a destination that accepts and closes) waits longer each time.
      const now = yield* Clock.currentTimeMillis
      const lastedAWhile = now - state.connectedAt >= Duration.toMillis(maxRedialDelay)
      failures = error._tag === "ConnectionLost" && lastedAWhile ? 1 : failures + 1
      if (error._tag === "DestinationTooSlow") state.onProbation = true
      yield* link.reportDown(error)
      yield* Effect.logDebug(`redialling: ${error.message}`)
      // Once the source has ended, a destination that is down gets no new attempt.
      if (buffer.ended) break
      const delay = yield* redialDelay(failures)
      yield* Effect.raceFirst(Effect.sleep(delay), buffer.changed.waitUntil(() => buffer.ended))
      if (buffer.ended) break
    }
    link.addDropped(buffer.discardQueued())
  })

  return Effect.all([pump, connector], { concurrency: 2, discard: true }).pipe(
    Effect.annotateLogs("destination", health.name)
  )
}

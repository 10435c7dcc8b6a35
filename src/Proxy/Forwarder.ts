import { Clock, Duration, Effect, Either, Option, Queue } from "effect"
import { redialDelay } from "./Backoff.js"
import type { ProxyConfig } from "./Config.js"
import type { Endpoint } from "./Endpoint.js"
import { ConnectionLost } from "./Errors.js"
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

/**
 * Forwards one source's bytes to one destination until the source ends, and
 * handles every failure of that destination itself: it never fails, so one bad
 * destination cannot stop the others.
 *
 * Two fibers share the link's buffer. The pump moves the feed into the buffer:
 * while connected it waits for room, which back-pressures the source, but for at
 * most `writeTimeout` at a stretch before it asks for the connection to be cut;
 * while not connected it keeps only the newest `bufferBytes` and counts the rest
 * as dropped. The connector dials with backoff and, once connected, writes the
 * buffer out in batches. So each destination connection carries one contiguous
 * run of the source's bytes: gaps only ever fall between connections.
 */
export const forward = (options: ForwarderOptions): Effect.Effect<void> => {
  const { config, feed, link } = options
  const buffer = link.buffer
  const health = link.health
  const writeTimeoutMillis = Duration.toMillis(config.writeTimeout)
  // Shared by the two fibers; every change is followed by buffer.changed.notify().
  const state = {
    connected: false,
    /** Set by the pump when the destination held the source back too long. */
    cutReason: undefined as string | undefined,
    /** When the pump started waiting on this destination without catching up since. */
    stalledSince: undefined as number | undefined
  }

  const waitForRoom = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    state.stalledSince ??= now
    const left = Duration.millis(Math.max(0, writeTimeoutMillis - (now - state.stalledSince)))
    const gotRoom = yield* buffer.changed.waitUntil(() => buffer.room > 0 || !state.connected).pipe(
      Effect.timeoutOption(left),
      Effect.map(Option.isSome)
    )
    if (!gotRoom) {
      state.cutReason = `it held the source back for ${Duration.format(config.writeTimeout)}`
      buffer.changed.notify()
      yield* buffer.changed.waitUntil(() => !state.connected)
    }
  })

  const accept = (chunk: Uint8Array) =>
    Effect.gen(function*() {
      let rest = chunk
      while (rest.length > 0) {
        if (!state.connected) {
          link.addDropped(buffer.appendEvictingOldest(rest))
          return
        }
        rest = buffer.appendWithinRoom(rest)
        if (rest.length > 0) yield* waitForRoom
      }
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
      // Caught up with the source: whatever held it back is over.
      if (yield* Queue.isEmpty(feed)) state.stalledSince = undefined
    }
  })

  const deliver = (connection: Tcp.OutboundConnection) =>
    Effect.gen(function*() {
      while (true) {
        yield* buffer.changed.waitUntil(() => buffer.queuedBytes > 0 || buffer.ended)
        if (buffer.queuedBytes === 0) return
        yield* connection.write(buffer.takeForWrite()).pipe(
          Effect.timeoutFail({
            duration: config.writeTimeout,
            onTimeout: () =>
              new ConnectionLost({
                peer: health.name,
                reason: `a write did not complete within ${Duration.format(config.writeTimeout)}`
              })
          })
        )
        link.addDelivered(buffer.settleWrite())
      }
    })

  const cutRequested = buffer.changed.waitUntil(() => state.cutReason !== undefined).pipe(
    Effect.zipRight(
      Effect.suspend(() => Effect.fail(new ConnectionLost({ peer: health.name, reason: state.cutReason ?? "cut" })))
    )
  )

  const markDisconnected = Effect.sync(() => {
    if (state.connected) health.reportDisconnected()
    state.connected = false
    state.cutReason = undefined
    state.stalledSince = undefined
    link.connected = false
    link.addDropped(buffer.abandonWrite())
    buffer.changed.notify()
  })

  /** Connects, delivers until the source ends, then closes gracefully; fails if the connection fails. */
  const connectAndDeliver = Effect.gen(function*() {
    const connection = yield* Tcp.connect(options.destination, config.connectTimeout)
    state.connected = true
    link.connected = true
    buffer.changed.notify()
    yield* health.reportUp()
    yield* Effect.raceFirst(deliver(connection), Effect.raceFirst(connection.lost, cutRequested))
    yield* connection.finish
  }).pipe(Effect.scoped, Effect.ensuring(markDisconnected))

  const connector = Effect.gen(function*() {
    let failures = 0
    while (true) {
      const outcome = yield* Effect.either(connectAndDeliver)
      if (Either.isRight(outcome)) return
      failures = outcome.left._tag === "ConnectionLost" ? 1 : failures + 1
      yield* health.reportDown(outcome.left.reason)
      yield* Effect.logDebug(`redialling: ${outcome.left.message}`)
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

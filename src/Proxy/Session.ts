import { Clock, Duration, Effect, PubSub } from "effect"
import { identity } from "effect/Function"
import type * as net from "node:net"
import type { ProxyConfig } from "./Config.js"
import type { FeedItem } from "./Forwarder.js"
import { EndOfFeed, forward } from "./Forwarder.js"
import { ConnectionCounters } from "./Stats.js"
import type { ProxyCounters } from "./Stats.js"
import * as Tcp from "./Tcp.js"
import { formatBytes } from "./Units.js"

/**
 * Chunks the feed holds for a forwarder that has not taken them yet. Forwarders
 * move chunks into their own byte-bounded buffers at once, so the feed only
 * fills while one of them is (briefly, at most `writeTimeout`) back-pressuring
 * the source; it must not be where bytes pile up.
 */
const feedCapacity = 16

export interface SessionContext {
  readonly config: ProxyConfig
  readonly counters: ProxyCounters
  /** Completes when the proxy shuts down: stop reading, flush, close. */
  readonly draining: Effect.Effect<void>
}

type SourceEvent =
  | { readonly _tag: "Data"; readonly chunks: ReadonlyArray<Uint8Array>; readonly done: boolean }
  | { readonly _tag: "Failed"; readonly reason: string }
  | { readonly _tag: "Idle" }
  | { readonly _tag: "Draining" }

const idle: SourceEvent = { _tag: "Idle" }
const drainingEvent: SourceEvent = { _tag: "Draining" }

/**
 * Reads the source into the feed until it ends (EOF, error, idle timeout or
 * shutdown), then publishes the end marker so every forwarder flushes and
 * closes. Returns why the source ended, for the log.
 */
const readSource = (
  source: Tcp.InboundConnection,
  feed: PubSub.PubSub<FeedItem>,
  counters: ConnectionCounters,
  context: SessionContext
): Effect.Effect<string> =>
  Effect.gen(function*() {
    const idleTimeout = context.config.idleTimeout
    const received: Effect.Effect<SourceEvent> = source.read.pipe(
      Effect.map(([chunks, done]): SourceEvent => ({ _tag: "Data", chunks, done })),
      Effect.catchAll((error) => Effect.succeed<SourceEvent>({ _tag: "Failed", reason: error.reason }))
    )
    const receivedOrIdle = Duration.greaterThan(idleTimeout, Duration.zero)
      ? Effect.timeoutTo(received, { duration: idleTimeout, onSuccess: identity, onTimeout: () => idle })
      : received
    const nextEvent = Effect.raceFirst(receivedOrIdle, Effect.as(context.draining, drainingEvent))
    let draining = false
    while (true) {
      // Once draining, the source is closed: read on only to take what it had already sent.
      const event = draining ? yield* received : yield* nextEvent
      if (event._tag === "Draining") {
        draining = true
        yield* source.close
        continue
      }
      if (event._tag === "Data") {
        let bytes = 0
        for (const chunk of event.chunks) bytes += chunk.length
        counters.addReceived(bytes)
        if (event.chunks.length > 0) yield* PubSub.publishAll(feed, event.chunks)
        if (!event.done) continue
      }
      yield* source.close
      yield* PubSub.publish(feed, EndOfFeed)
      return event._tag === "Failed"
        ? `source failed: ${event.reason}`
        : event._tag === "Idle"
        ? `source idle for ${Duration.format(idleTimeout)}`
        : draining
        ? "proxy shutting down"
        : "source closed the connection"
    }
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
 * fiber is interrupted and every socket of the connection is closed.
 */
export const runSession = (socket: net.Socket, context: SessionContext): Effect.Effect<void> =>
  Effect.suspend(() => {
    const { config, counters: proxyCounters } = context
    const id = ++proxyCounters.acceptedConnections
    const peer = Tcp.peerOf(socket)
    return Effect.gen(function*() {
      const source = yield* Tcp.inbound(socket)
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
      yield* Effect.addFinalizer(() => Effect.sync(() => proxyCounters.open.delete(id)))
      yield* Effect.logInfo("connection opened")

      const feed = yield* PubSub.bounded<FeedItem>(feedCapacity)
      // Subscribe every forwarder before the first byte is read, so none misses any.
      const forwarders = yield* Effect.forEach(config.destinations, (destination, index) =>
        Effect.map(PubSub.subscribe(feed), (subscription) =>
          forward({ destination, feed: subscription, config, link: counters.links[index]! })))
      const [reason] = yield* Effect.all([readSource(source, feed, counters, context), ...forwarders], {
        concurrency: "unbounded"
      })
      const closedAt = yield* Clock.currentTimeMillis
      yield* Effect.logInfo(`connection closed (${reason}) after ${Duration.format(Duration.millis(closedAt - openedAt))}: ${summary(counters)}`).pipe(
        Effect.annotateLogs({ bytesIn: counters.bytesReceived, durationMs: closedAt - openedAt })
      )
    }).pipe(Effect.scoped, Effect.annotateLogs({ connection: id, peer }))
  })

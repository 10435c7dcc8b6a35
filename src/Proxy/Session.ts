import { Clock, Duration, Effect, Fiber, PubSub } from "effect"
import type * as net from "node:net"
import type { ProxyConfig } from "./Config.js"
import type { Drain } from "./Drain.js"
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
  readonly drain: Drain
}

/**
 * Reads the source into the feed until it ends (EOF, error, idle timeout or
 * shutdown, the last two by closing the source), then publishes the end marker
 * so every forwarder flushes and closes. Returns why the source ended, for the log.
 */
const readSource = (
  source: Tcp.InboundConnection,
  feed: PubSub.PubSub<FeedItem>,
  counters: ConnectionCounters,
  context: SessionContext
): Effect.Effect<string> =>
  Effect.gen(function*() {
    const idleTimeout = context.config.idleTimeout
    const idleMillis = Duration.toMillis(idleTimeout)
    let lastActivity = yield* Clock.currentTimeMillis
    let idled = false
    // One timer per source, not one per read: reads are the hot path.
    const watchIdle = Effect.gen(function*() {
      while (true) {
        const silentFor = (yield* Clock.currentTimeMillis) - lastActivity
        if (silentFor >= idleMillis) {
          idled = true
          return yield* source.close
        }
        yield* Effect.sleep(Duration.millis(idleMillis - silentFor))
      }
    })
    const watchdog = idleMillis > 0 ? yield* Effect.fork(watchIdle) : undefined
    let failure: string | undefined
    while (true) {
      const next = yield* Effect.either(source.read)
      if (next._tag === "Left") {
        failure = next.left.reason
        break
      }
      const [chunks, done] = next.right
      let bytes = 0
      for (const chunk of chunks) bytes += chunk.length
      if (bytes > 0) {
        lastActivity = yield* Clock.currentTimeMillis
        counters.addReceived(bytes)
        yield* PubSub.publishAll(feed, chunks)
      }
      if (done) break
    }
    if (watchdog !== undefined) yield* Fiber.interrupt(watchdog)
    yield* source.close
    yield* PubSub.publish(feed, EndOfFeed)
    return failure !== undefined
      ? `source failed: ${failure}`
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
 * fiber is interrupted and every socket of the connection is closed.
 */
export const runSession = (socket: net.Socket, context: SessionContext): Effect.Effect<void> =>
  Effect.suspend(() => {
    const { config, counters: proxyCounters } = context
    const id = ++proxyCounters.acceptedConnections
    const peer = Tcp.peerOf(socket)
    return Effect.gen(function*() {
      const source = yield* Tcp.inbound(socket)
      yield* context.drain.register(source.close)
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
        Effect.annotateLogs({ bytesIn: counters.bytesReceived, durationMs: closedAt - openedAt, links: counters.linkTotals() })
      )
    }).pipe(Effect.scoped, Effect.annotateLogs({ connection: id, peer }))
  })

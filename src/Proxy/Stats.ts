import { Clock, Effect, Metric } from "effect"
import type { DestinationHealth, DestinationState } from "./DestinationHealth.js"
import { sessionDurationSeconds } from "./MetricNames.js"
import { OutboundBuffer } from "./OutboundBuffer.js"

/** One destination of one source connection. */
export interface LinkStats {
  readonly destination: string
  readonly connected: boolean
  /** Bytes whose write to the destination completed. */
  readonly delivered: number
  /** Bytes given up on: evicted while the destination was down, or lost with a broken connection. */
  readonly dropped: number
  /** Bytes held right now: queued plus in flight. */
  readonly buffered: number
}

/** One open source connection. */
export interface ConnectionStats {
  readonly id: number
  readonly peer: string
  /** Epoch milliseconds. */
  readonly openedAt: number
  readonly bytesReceived: number
  readonly destinations: ReadonlyArray<LinkStats>
}

/** One configured destination, over all connections, open and closed. */
export interface DestinationStats {
  readonly destination: string
  /** Whether the latest attempt to reach it, from any connection, worked. */
  readonly state: DestinationState
  /** Source connections currently connected to it. */
  readonly connected: number
  readonly delivered: number
  readonly dropped: number
}

export interface ProxyStats {
  readonly openConnections: number
  readonly acceptedConnections: number
  /** Connections closed at accept, by reason: over `maxConnections`, or outside `allow`. */
  readonly refusedConnections: Readonly<Record<RefusalReason, number>>
  /** Bytes received from all sources, open and closed. */
  readonly bytesReceived: number
  readonly connections: ReadonlyArray<ConnectionStats>
  readonly destinations: ReadonlyArray<DestinationStats>
}

/** Why a link's connection attempt or connection ended, as the forwarder saw it. */
export interface LinkFailure {
  readonly _tag: "ConnectError" | "ConnectionLost" | "DestinationTooSlow"
  readonly reason: string
}

/** Live counters of one destination of one connection; also feeds the destination's totals. */
export class LinkCounters {
  delivered = 0
  dropped = 0
  private isConnected = false
  /** A failure was reported and no connection came up since: the next one is a reconnect. */
  private failedSinceConnected = false

  constructor(readonly health: DestinationHealth, readonly buffer: OutboundBuffer) {}

  get connected(): boolean {
    return this.isConnected
  }

  set connected(connected: boolean) {
    if (connected && !this.isConnected && this.failedSinceConnected) {
      this.failedSinceConnected = false
      this.health.reconnects++
    }
    this.isConnected = connected
  }

  /** Counts the failure by kind, then lets the destination decide what to log. */
  reportDown(failure: LinkFailure): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.failedSinceConnected = true
      if (failure._tag === "ConnectError") this.health.connectFailures++
      if (failure._tag === "DestinationTooSlow") this.health.writeStallsCut++
      return this.health.reportDown(failure._tag === "DestinationTooSlow" ? "too slow" : "down", failure.reason)
    })
  }

  addDelivered(bytes: number): void {
    this.delivered += bytes
    this.health.delivered += bytes
  }

  addDropped(bytes: number): void {
    this.dropped += bytes
    this.health.dropped += bytes
  }

  snapshot(): LinkStats {
    return {
      destination: this.health.name,
      connected: this.connected,
      delivered: this.delivered,
      dropped: this.dropped,
      buffered: this.buffer.heldBytes
    }
  }
}

/** Live counters of one source connection. */
export class ConnectionCounters {
  bytesReceived = 0
  readonly links: ReadonlyArray<LinkCounters>

  constructor(
    readonly id: number,
    readonly peer: string,
    readonly openedAt: number,
    destinations: ReadonlyArray<DestinationHealth>,
    bufferBytes: number,
    private readonly totals: ProxyCounters
  ) {
    this.links = destinations.map((health) => new LinkCounters(health, new OutboundBuffer(bufferBytes)))
  }

  addReceived(bytes: number): void {
    this.bytesReceived += bytes
    this.totals.bytesReceived += bytes
  }

  /** Per destination, what became of this connection's bytes: the "connection closed" log's `links`. */
  linkTotals(): ReadonlyArray<{ destination: string; delivered: number; dropped: number; buffered: number }> {
    return this.links.map((link) => ({
      destination: link.health.name,
      delivered: link.delivered,
      dropped: link.dropped,
      buffered: link.buffer.heldBytes
    }))
  }

  snapshot(): ConnectionStats {
    return {
      id: this.id,
      peer: this.peer,
      openedAt: this.openedAt,
      bytesReceived: this.bytesReceived,
      destinations: this.links.map((link) => link.snapshot())
    }
  }
}

export type RefusalReason = "max_connections" | "not_allowed" | "loop"

/** The proxy's counters: open connections by id, and every destination's health. */
export class ProxyCounters {
  acceptedConnections = 0
  bytesReceived = 0
  readonly refused: Record<RefusalReason, number> = { max_connections: 0, not_allowed: 0, loop: 0 }
  readonly open = new Map<number, ConnectionCounters>()

  constructor(readonly destinations: ReadonlyArray<DestinationHealth>) {}

  /** A connection is gone: forget it, and record how long it lasted (once per connection, not per chunk). */
  release(connection: ConnectionCounters): Effect.Effect<void> {
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      this.open.delete(connection.id)
      return Metric.update(sessionDurationSeconds, Math.max(0, now - connection.openedAt) / 1000)
    })
  }

  snapshot(): ProxyStats {
    return {
      openConnections: this.open.size,
      acceptedConnections: this.acceptedConnections,
      refusedConnections: { ...this.refused },
      bytesReceived: this.bytesReceived,
      connections: [...this.open.values()].map((connection) => connection.snapshot()),
      destinations: this.destinations.map((health) => ({
        destination: health.name,
        state: health.state,
        connected: health.connected,
        delivered: health.delivered,
        dropped: health.dropped
      }))
    }
  }
}

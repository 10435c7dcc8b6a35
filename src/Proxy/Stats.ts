import { Clock, Effect, Metric } from "effect"
import type { DestinationHealth, DestinationState } from "./DestinationHealth.js"
import { sessionDurationSeconds } from "./MetricNames.js"

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

/** Live counters of one destination of one connection; each also counts into the destination's totals. */
export class LinkCounters {
  delivered = 0
  dropped = 0
  /** Whether the link has a connection its writes go to; the forwarder sets it. */
  connected = false
  /** Offset in the source's stream of the first byte given to it: not 0 for a destination a reload added. */
  from = 0
  /** Offset in the source's stream where it stopped being given bytes: a reload removed it; else undefined. */
  until: number | undefined = undefined

  constructor(readonly health: DestinationHealth, private readonly held: { readonly heldBytes: number }) {}

  addDelivered(bytes: number): void {
    this.delivered += bytes
    this.health.delivered += bytes
  }

  addDropped(bytes: number): void {
    this.dropped += bytes
    this.health.dropped += bytes
  }

  /** Bytes held for the destination right now: queued plus in flight. */
  get buffered(): number {
    return this.held.heldBytes
  }

  snapshot(): LinkStats {
    return {
      destination: this.health.name,
      connected: this.connected,
      delivered: this.delivered,
      dropped: this.dropped,
      buffered: this.buffered
    }
  }
}

/** What became of one connection's bytes for one destination. */
export interface LinkTotals {
  readonly destination: string
  readonly from: number
  readonly received: number
  readonly delivered: number
  readonly dropped: number
  readonly buffered: number
}

/** Live counters of one source connection. */
export class ConnectionCounters {
  bytesReceived = 0

  constructor(
    readonly id: number,
    readonly peer: string,
    readonly openedAt: number,
    /** One per destination the connection is forwarded to; a reload may add some. */
    readonly links: Array<LinkCounters>,
    private readonly totals: ProxyCounters
  ) {}

  addReceived(bytes: number): void {
    this.bytesReceived += bytes
    this.totals.bytesReceived += bytes
  }

  /**
   * Per destination, what became of this connection's bytes: the "connection closed"
   * log's `links`. `received` bytes from stream offset `from` were given to it, so
   * received = delivered + dropped + buffered.
   */
  linkTotals(): ReadonlyArray<LinkTotals> {
    return this.links.map((link) => ({
      destination: link.health.name,
      from: link.from,
      received: (link.until ?? this.bytesReceived) - link.from,
      delivered: link.delivered,
      dropped: link.dropped,
      buffered: link.buffered
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

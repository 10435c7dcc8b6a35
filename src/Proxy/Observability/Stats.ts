import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type { DestinationHealth, DestinationState } from "./DestinationHealth.js"
import { sessionDurationSeconds } from "./MetricNames.js"
import type { MessageTally } from "../DataPath/OutboundBuffer.js"

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
  /** Framed routes only: messages delivered whole, and dropped (a message counts once its last byte does). */
  readonly messagesDelivered: number
  readonly messagesDropped: number
}

/** One open source connection. */
export interface ConnectionStats {
  readonly id: number
  readonly peer: string
  /** Epoch milliseconds. */
  readonly openedAt: number
  readonly bytesReceived: number
  /** Framed routes only: messages received whole. */
  readonly messagesReceived: number
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
  /** Framed routes only. */
  readonly messagesDelivered: number
  readonly messagesDropped: number
}

export interface ProxyStats {
  readonly openConnections: number
  readonly acceptedConnections: number
  /** Connections closed at accept, by reason: over `maxConnections`, or outside `allow`. */
  readonly refusedConnections: Readonly<Record<RefusalReason, number>>
  /** Bytes received from all sources, open and closed. */
  readonly bytesReceived: number
  /** Framed routes only: messages received whole from all sources, open and closed. */
  readonly messagesReceived: number
  /** Sources closed for a message over --max-message. */
  readonly framingErrors: number
  readonly connections: ReadonlyArray<ConnectionStats>
  readonly destinations: ReadonlyArray<DestinationStats>
}

/** Live counters of one destination of one connection; each also counts into the destination's totals. */
export class LinkCounters implements MessageTally {
  delivered = 0
  dropped = 0
  /** Framed routes only: messages whose last byte was delivered, or dropped. */
  messagesDelivered = 0
  messagesDropped = 0
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

  addDeliveredMessages(count: number): void {
    this.messagesDelivered += count
    this.health.messagesDelivered += count
  }

  addDroppedMessages(count: number): void {
    this.messagesDropped += count
    this.health.messagesDropped += count
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
      buffered: this.buffered,
      messagesDelivered: this.messagesDelivered,
      messagesDropped: this.messagesDropped
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
  /** Framed routes only: messages whose last byte was received. */
  messagesReceived = 0

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

  addReceivedMessages(count: number): void {
    this.messagesReceived += count
    this.totals.messagesReceived += count
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
      messagesReceived: this.messagesReceived,
      destinations: this.links.map((link) => link.snapshot())
    }
  }
}

export type RefusalReason = "max_connections" | "not_allowed" | "loop" | "proxy_protocol" | "tls"

/** The proxy's counters: open connections by id, and every destination's health. */
export class ProxyCounters {
  acceptedConnections = 0
  bytesReceived = 0
  /** Framed only: messages received whole from all sources, and sources closed for a message over --max-message. */
  messagesReceived = 0
  framingErrors = 0
  /** Some of its connections are framed: its message metrics are reported. */
  framed = false
  /** It uses TLS on a side (issue 12): its TLS metrics are reported; the listener's certificate's expiry (Unix s). */
  tls = false
  listenerCertificateExpiry: number | undefined = undefined
  readonly refused: Record<RefusalReason, number> = {
    max_connections: 0,
    not_allowed: 0,
    loop: 0,
    proxy_protocol: 0,
    tls: 0
  }
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
      messagesReceived: this.messagesReceived,
      framingErrors: this.framingErrors,
      connections: [...this.open.values()].map((connection) => connection.snapshot()),
      destinations: this.destinations.map((health) => ({
        destination: health.name,
        state: health.state,
        connected: health.connected,
        delivered: health.delivered,
        dropped: health.dropped,
        messagesDelivered: health.messagesDelivered,
        messagesDropped: health.messagesDropped
      }))
    }
  }
}

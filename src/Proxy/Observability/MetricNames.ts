import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

/**
 * The metrics the proxy exposes, as Effect `Metric`s, under the exact names
 * operators and the team's tools rely on. Most are filled from the proxy's
 * plain counters at scrape time (see `ProxyMetrics.ts`), so the data path pays
 * nothing for them; only the session duration is observed as it happens, once
 * per connection.
 */
export const metricPrefix = "socket_proxy_"

const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

export const connectionsAccepted = counter("socket_proxy_connections_accepted_total", "Source connections accepted")
export const connectionsOpen = Metric.gauge("socket_proxy_connections_open", {
  description: "Source connections open now"
})
/** Tagged `reason`: `max_connections`, `not_allowed`, `loop` or `proxy_protocol`. */
export const connectionsRefused = counter(
  "socket_proxy_connections_refused_total",
  "Source connections closed at accept: over --max-connections, from outside --allow, the proxy's own (a loop), " +
    "or without a valid PROXY header"
)
export const bytesReceived = counter("socket_proxy_bytes_received_total", "Bytes received from all sources")

// Tagged `destination` ("host:port" as configured):
export const bytesDelivered = counter(
  "socket_proxy_bytes_delivered_total",
  "Bytes whose write to the destination completed"
)
export const bytesDropped = counter(
  "socket_proxy_bytes_dropped_total",
  "Bytes the destination missed: evicted or still held for it while it was down, or lost with a broken connection"
)
export const bytesBuffered = Metric.gauge("socket_proxy_bytes_buffered", {
  description: "Bytes held for the destination now, over all source connections"
})
export const destinationUp = Metric.gauge("socket_proxy_destination_up", {
  description: "1 if the latest attempt to reach the destination worked, 0 if it failed; absent until first tried"
})
export const destinationConnectionsOpen = Metric.gauge("socket_proxy_destination_connections_open", {
  description: "Connections to the destination open now (one per connected source)"
})
export const destinationConnectFailures = counter(
  "socket_proxy_destination_connect_failures_total",
  "Attempts to connect to the destination that failed"
)
export const destinationReconnects = counter(
  "socket_proxy_destination_reconnects_total",
  "Connections to the destination established again after a failure"
)
export const destinationSampledOut = counter(
  "socket_proxy_destination_sampled_out_total",
  "Source connections not forwarded to the destination, by its sample: share"
)
export const destinationWriteStallsCut = counter(
  "socket_proxy_destination_write_stalls_cut_total",
  "Connections to the destination cut because it held the source back longer than --write-timeout"
)

// Framed routes only (issue 13):
/** Tagged `destination` and `route`. */
export const messagesDropped = counter(
  "socket_proxy_messages_dropped_total",
  "With --framing: messages the destination missed (a message counts once its last byte does), whole"
)
/** Tagged `route`. */
export const framingErrors = counter(
  "socket_proxy_framing_errors_total",
  "With --framing: sources closed for sending a message over --max-message (not the route's framing)"
)

// TLS (issue 12), reported once a route uses it:
/** Tagged `side`: `source` (a source's handshake with the listener) or `destination` (ours with a tls:// one). */
export const tlsHandshakeFailures = counter(
  "socket_proxy_tls_handshake_failures_total",
  "TLS handshakes that failed: no TLS, an unknown, wrong-name, expired or missing certificate, a timeout"
)
/** Tagged `destination` and `route`. */
export const destinationCertificateExpiry = Metric.gauge("socket_proxy_destination_certificate_expiry_seconds", {
  description: "When the tls:// destination's certificate (as last seen in a handshake) expires, in Unix seconds"
})
/** Tagged `route`. */
export const listenerCertificateExpiry = Metric.gauge("socket_proxy_listener_certificate_expiry_seconds", {
  description: "When the listener's own certificate (--tls-cert) expires, in Unix seconds"
})

export const sessionDurationSeconds = Metric.histogram(
  "socket_proxy_session_duration_seconds",
  // 10 ms up to about a week, each bucket 4 times the last.
  MetricBoundaries.exponential({ start: 0.01, factor: 4, count: 14 }),
  "How long source connections lasted, in seconds"
)
export const fibersActive = Metric.gauge("socket_proxy_fibers_active", {
  description: "Live fibers of the proxy (accept loop, sessions, forwarders and their helpers); for leak checks"
})

/** Tagged `result`: `applied` or `failed` (a file that does not validate, or an address that cannot be bound). */
export const configReloads = counter(
  "socket_proxy_config_reloads_total",
  "Reloads of the configuration file (SIGHUP or a change of the file): applied, or failed and changed nothing"
)

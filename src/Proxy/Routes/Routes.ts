import type { Duration, LogLevel } from "effect"
import type { Cidr } from "../Settings/Cidr.js"
import type { ProxyConfig } from "../Settings/Config.js"
import type { Endpoint, ListenAddress } from "../Settings/Endpoint.js"
import type { Framing } from "../Framing/Framing.js"
import { formatEndpoint } from "../Settings/Endpoint.js"
import type { LogFormat, SendProxyProtocol } from "../Settings/Settings.js"
import type { DestinationTlsFiles, ListenerTlsFiles } from "../Tls/Certificates.js"

/** One destination of a route, with the settings it may override. */
export interface DestinationConfig extends Endpoint {
  readonly bufferBytes: number
  readonly writeTimeout: Duration.Duration
  readonly connectTimeout: Duration.Duration
  /** The share of the route's source connections forwarded to it, 0 < sample <= 1. */
  readonly sample: number
  /** The PROXY protocol header each of its connections begins with, or `off`. */
  readonly sendProxyProtocol: SendProxyProtocol
  /** A `tls://` destination's own TLS settings (the file's `tls:` map); else the route's. */
  readonly tlsSettings?: DestinationTlsSettings | undefined
}

/** What a destination's `tls:` map in the file says. */
export interface DestinationTlsSettings {
  /** Its own CA, client certificate and key; the route's (`--dest-ca` ...) when undefined. */
  readonly files: DestinationTlsFiles | undefined
  /** The name its certificate is verified for (and sent as SNI); its host name by default. */
  readonly servername: string | undefined
  /** Verification off: only in the file, and logged as a warning. */
  readonly insecureSkipVerify: boolean
}

/** One route: a listen address, its destinations, and its per-connection settings. */
export interface RouteConfig {
  readonly name: string
  readonly listen: ListenAddress
  readonly destinations: ReadonlyArray<DestinationConfig>
  readonly connectTimeout: Duration.Duration
  readonly writeTimeout: Duration.Duration
  readonly idleTimeout: Duration.Duration
  readonly bufferBytes: number
  readonly maxConnections: number | undefined
  readonly allow: ReadonlyArray<Cidr> | undefined
  readonly framing: Framing
  readonly maxMessageBytes: number
  readonly acceptProxyProtocol: boolean
  readonly sendProxyProtocol: SendProxyProtocol
  /** TLS (issue 12): from the command line and the environment only, for now. */
  readonly listenerTls?: ListenerTlsFiles | undefined
  readonly destinationTls?: DestinationTlsFiles | undefined
}

/** What a configuration file holds, with the process-wide settings; every default filled in. */
export interface RoutesConfig {
  readonly metrics: ListenAddress | undefined
  readonly drainTimeout: Duration.Duration
  /** Undefined where the command line's own setting applies (a proxy made from a `ProxyConfig`). */
  readonly logLevel: LogLevel.LogLevel | undefined
  readonly logFormat: LogFormat | undefined
  /** At least one; names unique, listen addresses distinct. */
  readonly routes: ReadonlyArray<RouteConfig>
}

/**
 * The `ProxyConfig` the session code takes, made for one route: its
 * destinations and per-connection settings. What a destination overrides
 * (buffer, write-timeout, connect-timeout, sample) is in `route.destinations`
 * for the session code to follow; today's sessions use the route's values.
 */
export const sessionConfig = (
  route: RouteConfig,
  top: Pick<RoutesConfig, "metrics" | "drainTimeout">
): ProxyConfig => ({
  name: route.name,
  listen: route.listen,
  destinations: route.destinations.map(({ host, port, tls }) => ({ host, port, tls })),
  connectTimeout: route.connectTimeout,
  writeTimeout: route.writeTimeout,
  idleTimeout: route.idleTimeout,
  bufferBytes: route.bufferBytes,
  drainTimeout: top.drainTimeout,
  metrics: top.metrics,
  maxConnections: route.maxConnections,
  allow: route.allow,
  framing: route.framing,
  maxMessageBytes: route.maxMessageBytes,
  acceptProxyProtocol: route.acceptProxyProtocol,
  sendProxyProtocol: route.sendProxyProtocol,
  listenerTls: route.listenerTls,
  destinationTls: route.destinationTls
})

/** `vehicles on *:8000 -> a:1, b:2`, for logs and `--check`. */
export const describeRoute = (route: RouteConfig): string =>
  `${route.name} on ${formatEndpoint(route.listen)} -> ${route.destinations.map(formatEndpoint).join(", ")}`

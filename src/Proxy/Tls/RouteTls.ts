import * as Effect from "effect/Effect"
import type * as tls from "node:tls"
import type { Endpoint } from "../Settings/Endpoint.js"
import type { DestinationTls, DestinationTlsFiles, ListenerTls, ListenerTlsFiles } from "./Certificates.js"
import { loadDestinationTls, loadListenerTls } from "./Certificates.js"

/** A route's TLS material, read from its files: what its listener presents, what its `tls://` destinations are checked against. */
export interface RouteTls {
  readonly listener: ListenerTls | undefined
  readonly destination: DestinationTls | undefined
}

export const noTls: RouteTls = { listener: undefined, destination: undefined }

/**
 * Reads the route's certificate files. The settings were checked when they were
 * read (exit 2 naming the file), so a failure here is a file changed since: it
 * fails the route's start with that line.
 */
export const loadRouteTls = (
  files: {
    readonly listenerTls?: ListenerTlsFiles | undefined
    readonly destinationTls?: DestinationTlsFiles | undefined
  }
): Effect.Effect<RouteTls> =>
  files.listenerTls === undefined && files.destinationTls === undefined
    ? Effect.succeed(noTls)
    : Effect.all({
      listener: files.listenerTls === undefined ? Effect.succeed(undefined) : loadListenerTls(files.listenerTls),
      destination: files.destinationTls === undefined
        ? Effect.succeed(undefined)
        : loadDestinationTls(files.destinationTls)
    }).pipe(Effect.orDieWith((error) => new Error(error.message)))

/**
 * How a `tls://` destination is dialled: its certificate verified against the
 * `--dest-ca` CAs (else the system's) for its host name (SNI too, unless it is an
 * IP address), the `--dest-cert` client certificate shown if given.
 */
export const clientTlsOptions = (
  endpoint: Endpoint,
  material: DestinationTls | undefined
): tls.ConnectionOptions => ({
  servername: isIpLiteral(endpoint.host) ? undefined : endpoint.host,
  ca: material?.ca === undefined ? undefined : [...material.ca],
  cert: material?.cert,
  key: material?.key,
  rejectUnauthorized: true
})

const isIpLiteral = (host: string): boolean => /^[\d.]+$/.test(host) || host.includes(":")

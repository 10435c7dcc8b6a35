import * as Effect from "effect/Effect"
import type * as tls from "node:tls"
import type { Endpoint } from "../Settings/Endpoint.js"
import type { DestinationTls, DestinationTlsFiles, ListenerTls, ListenerTlsFiles } from "./Certificates.js"
import { loadDestinationTls, loadListenerTls } from "./Certificates.js"

/** The certificate files a route's TLS is read from. */
export interface TlsFiles {
  readonly listenerTls?: ListenerTlsFiles | undefined
  readonly destinationTls?: DestinationTlsFiles | undefined
}

const read = (files: TlsFiles) =>
  Effect.all({
    listener: files.listenerTls === undefined ? Effect.succeed(undefined) : loadListenerTls(files.listenerTls),
    destination: files.destinationTls === undefined
      ? Effect.succeed(undefined)
      : loadDestinationTls(files.destinationTls)
  })

/**
 * A route's TLS material, read from its files: what its listener presents, what
 * its `tls://` destinations are checked against. Each new connection takes what
 * it holds then, so a reload swaps it for the connections accepted (and the
 * destination connections dialled) after it; open ones keep theirs.
 */
export class RouteTls {
  private constructor(
    private files: TlsFiles,
    public listener: ListenerTls | undefined,
    public destination: DestinationTls | undefined
  ) {}

  /**
   * Reads the route's certificate files. The settings were checked when they were
   * read (exit 2 naming the file), so a failure here is a file changed since: it
   * fails the route's start with that line.
   */
  static load(files: TlsFiles): Effect.Effect<RouteTls> {
    return read(files).pipe(
      Effect.map(({ destination, listener }) => new RouteTls(files, listener, destination)),
      Effect.orDieWith((error) => new Error(error.message))
    )
  }

  get used(): boolean {
    return this.files.listenerTls !== undefined || this.files.destinationTls !== undefined
  }

  /**
   * Reads the files again (SIGHUP): if every one is good, new connections get the
   * new certificates; if one is not, nothing changes and one line says why.
   */
  reload(): Effect.Effect<boolean> {
    if (!this.used) return Effect.succeed(false)
    return read(this.files).pipe(
      Effect.tap(({ destination, listener }) =>
        Effect.sync(() => {
          this.listener = listener
          this.destination = destination
        })
      ),
      Effect.zipRight(Effect.logInfo("certificates reloaded: new connections use them; open ones keep theirs")),
      Effect.as(true),
      Effect.catchAll((error) =>
        Effect.as(
          Effect.logError(`certificate reload refused, nothing changed: ${error.message}`),
          false
        )
      )
    )
  }
}

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

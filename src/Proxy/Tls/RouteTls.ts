import * as Effect from "effect/Effect"
import type * as tls from "node:tls"
import type { DestinationConfig } from "../Routes/Routes.js"
import { formatEndpoint } from "../Settings/Endpoint.js"
import type { DestinationTls, DestinationTlsFiles, ListenerTls, ListenerTlsFiles } from "./Certificates.js"
import { loadDestinationTls, loadListenerTls } from "./Certificates.js"

/** The certificate files a route's TLS is read from. */
export interface TlsFiles {
  readonly listenerTls?: ListenerTlsFiles | undefined
  /** What every `tls://` destination is checked against (`--dest-ca` ...), unless it has files of its own. */
  readonly destinationTls?: DestinationTlsFiles | undefined
  /** The destinations: those with a `tls:` map of their own files get their own material. */
  readonly destinations: ReadonlyArray<DestinationConfig>
}

interface Material {
  readonly listener: ListenerTls | undefined
  readonly destination: DestinationTls | undefined
  /** By destination name, for those with files of their own. */
  readonly own: ReadonlyMap<string, DestinationTls>
}

const read = (files: TlsFiles) =>
  Effect.all({
    listener: files.listenerTls === undefined ? Effect.succeed(undefined) : loadListenerTls(files.listenerTls),
    destination: files.destinationTls === undefined
      ? Effect.succeed(undefined)
      : loadDestinationTls(files.destinationTls),
    own: Effect.map(
      Effect.forEach(files.destinations, (link) => {
        const own = link.tlsSettings?.files
        return own === undefined
          ? Effect.succeed(undefined)
          : Effect.map(loadDestinationTls(own), (material) => [formatEndpoint(link), material] as const)
      }),
      (pairs) => new Map(pairs.filter((pair) => pair !== undefined))
    )
  })

const usesTls = (files: TlsFiles): boolean =>
  files.listenerTls !== undefined || files.destinationTls !== undefined ||
  files.destinations.some((link) => link.tlsSettings?.files !== undefined)

/**
 * A route's TLS material, read from its files: what its listener presents, what
 * its `tls://` destinations are checked against. Each new connection takes what
 * it holds then, so a reload swaps it for the connections accepted (and the
 * destination connections dialled) after it; open ones keep theirs.
 */
export class RouteTls {
  private constructor(private files: TlsFiles, private material: Material) {}

  /**
   * Reads the route's certificate files. The settings were checked when they were
   * read (exit 2 naming the file), so a failure here is a file changed since: it
   * fails the route's start with that line.
   */
  static load(files: TlsFiles): Effect.Effect<RouteTls> {
    return read(files).pipe(
      Effect.map((material) => new RouteTls(files, material)),
      Effect.orDieWith((error) => new Error(error.message))
    )
  }

  get listener(): ListenerTls | undefined {
    return this.material.listener
  }

  get used(): boolean {
    return usesTls(this.files)
  }

  /** How a destination is dialled: over TLS for a `tls://` one, with its own material or the route's. */
  optionsFor(link: DestinationConfig): tls.ConnectionOptions | undefined {
    if (link.tls !== true) return undefined
    return clientTlsOptions(link, this.material.own.get(formatEndpoint(link)) ?? this.material.destination)
  }

  /**
   * A reload of the file gave the route new settings (already checked): its files
   * are read for the connections from now on. A file that went bad since the
   * check keeps what there was, with one line.
   */
  follow(files: TlsFiles): Effect.Effect<void> {
    this.files = files
    return Effect.asVoid(this.reload(false))
  }

  /**
   * Reads the files again (SIGHUP): if every one is good, new connections get the
   * new certificates; if one is not, nothing changes and one line says why.
   */
  reload(announce = true): Effect.Effect<boolean> {
    if (!this.used) {
      this.material = { listener: undefined, destination: undefined, own: new Map() }
      return Effect.succeed(false)
    }
    return read(this.files).pipe(
      Effect.tap((material) =>
        Effect.sync(() => {
          this.material = material
        })
      ),
      Effect.zipRight(
        announce
          ? Effect.logInfo("certificates reloaded: new connections use them; open ones keep theirs")
          : Effect.void
      ),
      Effect.as(true),
      Effect.catchAll((error) =>
        Effect.as(Effect.logError(`certificate reload refused, nothing changed: ${error.message}`), false)
      )
    )
  }
}

/**
 * How a `tls://` destination is dialled: its certificate verified against its
 * CAs (its own, `--dest-ca`, else the system's) for its `servername`, else its
 * host name (Node checks the name it sends as SNI; an IP address is not sent, and
 * is checked as itself); its client certificate shown
 * if it has one. `insecure-skip-verify` (the file only) turns verification off.
 */
export const clientTlsOptions = (
  link: DestinationConfig,
  material: DestinationTls | undefined
): tls.ConnectionOptions => {
  const servername = link.tlsSettings?.servername ?? (isIpLiteral(link.host) ? undefined : link.host)
  return {
    servername,
    ca: material?.ca === undefined ? undefined : [...material.ca],
    cert: material?.cert,
    key: material?.key,
    rejectUnauthorized: link.tlsSettings?.insecureSkipVerify !== true
  }
}

const isIpLiteral = (host: string): boolean => /^[\d.]+$/.test(host) || host.includes(":")

/**
 * What soak peer processes and the harness say to each other: one JSON object
 * per line, events on the peer's stdout, commands on its stdin.
 */
import type { Segment } from "../../test/support/Records.js"

export type DestinationEvent =
  | { readonly e: "listening"; readonly port: number }
  | { readonly e: "violation"; readonly message: string }
  /** `clean`: the connection ended with the proxy's FIN, not a reset or an error. */
  | (
    & { readonly e: "segment"; readonly connection: number; readonly faulted: boolean; readonly clean?: boolean }
    & Segment
  )
  /** Per open connection carrying a known source: [sourceId, stream offset reached]. */
  | { readonly e: "progress"; readonly open: ReadonlyArray<readonly [number, number]>; readonly connections: number }

export type DestinationCommand =
  /** Reset every open connection, mid-write. */
  | { readonly cmd: "reset" }
  /** Stop reading every open and newly accepted connection for `ms`, then read again. */
  | { readonly cmd: "stall"; readonly ms: number }
  /** Half-close every open connection (send FIN, keep reading). */
  | { readonly cmd: "halfclose" }

export type SourceEvent =
  /** `address:port` is the connection's own end: the proxy's `peer` for it, unique in the soak (see `localNet`). */
  | { readonly e: "connected"; readonly id: number; readonly address: string; readonly port: number }
  | { readonly e: "closed"; readonly id: number; readonly written: number; readonly clean: boolean }
  /** Per open connection: [sourceId, bytes written so far]. */
  | { readonly e: "progress"; readonly written: ReadonlyArray<readonly [number, number]> }
  | { readonly e: "stopped" }

export type SourceCommand =
  /** Destroy `n` connections with a reset and reconnect. */
  | { readonly cmd: "vanish"; readonly n: number }
  /** Half-close `n` connections (after what they wrote) and reconnect. */
  | { readonly cmd: "halfclose"; readonly n: number }
  /** Open `n` extra connections that send nothing, and close them after `ms`. */
  | { readonly cmd: "silent"; readonly n: number; readonly ms: number }
  /** Open and at once close `n` extra connections. */
  | { readonly cmd: "burst"; readonly n: number }
  /** Half-close every connection, reconnect none; `stopped` once all are closed. */
  | { readonly cmd: "stop" }

export interface DestinationSettings {
  readonly host: string
  readonly port: number
  /** The records come framed (`--framing u32be`, issue 13). */
  readonly framed?: boolean
}

export interface SourceSettings {
  readonly host: string
  readonly port: number
  readonly connections: number
  /** Source ids are `idBase + n`: unique per source connection over the whole soak. */
  readonly idBase: number
  /**
   * Each connection binds its own local address, 127.`localNet`.x.y, so that the
   * proxy's `peer` names it alone: ports alone are reused within seconds.
   */
  readonly localNet: number
  readonly recordsPerSecond: number
  readonly meanPayload: number
  /** Each record after its u32be length (`--framing u32be`, issue 13). */
  readonly framed?: boolean
}

export const settingsVariable = "SOAK_PEER"

/** Calls `onLine` with every complete line of `stream`. */
export const forEachLine = (stream: NodeJS.ReadableStream, onLine: (line: string) => void): void => {
  let partial = ""
  stream.setEncoding("utf8")
  stream.on("data", (text: string) => {
    const lines = (partial + text).split("\n")
    partial = lines.pop() ?? ""
    for (const line of lines) if (line.length > 0) onLine(line)
  })
}

export const emit = (event: DestinationEvent | SourceEvent): void => {
  process.stdout.write(JSON.stringify(event) + "\n")
}

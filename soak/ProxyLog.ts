/**
 * Reads the proxy's log lines: `--log-format json` (Effect's jsonLogger: message,
 * logLevel, annotations) and, for a proxy without it, logfmt.
 */
import type { LinkCount } from "./Ledger.js"

export interface LogLine {
  readonly message: string
  readonly level: string
  readonly annotations: Readonly<Record<string, unknown>>
}

const logfmtPair = /([A-Za-z_][A-Za-z0-9_.]*)=("(?:[^"\\]|\\.)*"|\S*)/g

const parseLogfmt = (line: string): LogLine => {
  const fields: Record<string, unknown> = {}
  for (const match of line.matchAll(logfmtPair)) {
    const raw = match[2]!
    fields[match[1]!] = raw.startsWith("\"") ? (JSON.parse(raw) as string) : raw
  }
  const { message, level, ...annotations } = fields
  return { message: String(message ?? ""), level: String(level ?? ""), annotations }
}

const messageText = (message: unknown): string =>
  Array.isArray(message) ? message.map(String).join(" ") : String(message ?? "")

export const parseLogLine = (line: string): LogLine => {
  if (line.startsWith("{")) {
    try {
      const json = JSON.parse(line) as { message?: unknown; logLevel?: unknown; annotations?: Record<string, unknown> }
      return {
        message: messageText(json.message),
        level: String(json.logLevel ?? ""),
        annotations: json.annotations ?? {}
      }
    } catch {
      // Not JSON after all.
    }
  }
  return parseLogfmt(line)
}

export interface ConnectionClosed {
  readonly peer: string
  readonly bytesIn: number
  /** Undefined when the proxy's log does not carry them (no `--log-format json`). */
  readonly links: ReadonlyArray<Omit<LinkCount, "destination"> & { readonly destination: string }> | undefined
}

const asInt = (value: unknown): number => (typeof value === "number" ? value : Number(value))

/** The "connection closed" line's exact counts, or undefined for any other line. */
export const connectionClosed = (line: LogLine): ConnectionClosed | undefined => {
  if (!line.message.startsWith("connection closed")) return undefined
  const links = line.annotations["links"]
  return {
    peer: String(line.annotations["peer"] ?? ""),
    bytesIn: asInt(line.annotations["bytesIn"]),
    links: Array.isArray(links)
      ? links.map((link: Record<string, unknown>) => ({
        destination: String(link["destination"]),
        // A proxy that does not say gave every link the whole stream.
        from: link["from"] === undefined ? 0 : asInt(link["from"]),
        received: link["received"] === undefined ? asInt(line.annotations["bytesIn"]) : asInt(link["received"]),
        delivered: asInt(link["delivered"]),
        dropped: asInt(link["dropped"]),
        buffered: asInt(link["buffered"])
      }))
      : undefined
  }
}

/** The port of the "listening on HOST:PORT" line, or undefined. */
export const listeningPort = (line: LogLine): number | undefined => {
  const match = line.message.match(/^listening on \S*:(\d+)/)
  return match === null ? undefined : Number(match[1])
}

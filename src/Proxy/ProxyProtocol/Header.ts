/**
 * What a PROXY protocol header (HAProxy's `proxy-protocol.txt`, versions 1 and 2)
 * says about a connection, once parsed; and what the proxy sends to destinations.
 */
import { isIPv6 } from "node:net"

/** One end of a TCP connection, as a header names it. */
export interface HeaderAddress {
  /** `192.0.2.7` or `2001:db8::7`, never IPv4-mapped in a header of family `tcp4`. */
  readonly address: string
  readonly port: number
}

export type HeaderFamily = "tcp4" | "tcp6"

/**
 * - `Proxied`: the connection was relayed for `source`, which connected to `destination`.
 * - `Local` (v2 `LOCAL`): the balancer's own connection, such as a health check.
 * - `Unknown` (v1 `UNKNOWN`, v2 `UNSPEC` or a family other than TCP over IPv4/IPv6):
 *   the balancer's address stands.
 */
export type ProxyHeader =
  | {
    readonly _tag: "Proxied"
    readonly version: 1 | 2
    readonly family: HeaderFamily
    readonly source: HeaderAddress
    readonly destination: HeaderAddress
  }
  | { readonly _tag: "Local"; readonly version: 2 }
  | { readonly _tag: "Unknown"; readonly version: 1 | 2 }

/** The version sent to destinations with `--send-proxy-protocol`. */
export type SendVersion = "v1" | "v2"

/** The longest v1 header, CRLF included (the spec's bound). */
export const maxV1Length = 107
/** The v2 header's fixed part: signature, version and command, family, length. */
export const v2FixedLength = 16
/** The spec's 12-byte v2 signature. */
export const v2Signature = Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a)
/** How long a source has to send its whole header before it is refused. */
export const headerTimeoutMillis = 5000
/**
 * The longest v2 header taken (fixed part, addresses and TLVs): the format allows
 * 64 KiB of TLVs, balancers send a few hundred bytes at most, and a connection
 * that has not sent its header yet must not make the proxy hold more than this.
 */
export const maxV2Length = v2FixedLength + 4096

/** The 16 bytes of an IPv6 address, or `undefined` for text that is not one (zone ids are refused). */
export const ipv6Bytes = (text: string): Uint8Array | undefined => {
  // `isIPv6` takes `fe80::1%eth0`; a header has no room for a zone, so the caller decides.
  if (!isIPv6(text) || text.includes("%")) return undefined
  const words = ipv6Words(withHexTail(text))
  if (words === undefined) return undefined
  const bytes = new Uint8Array(16)
  words.forEach((word, i) => {
    bytes[2 * i] = word >> 8
    bytes[2 * i + 1] = word & 0xff
  })
  return bytes
}

/** `::ffff:1.2.3.4` as `::ffff:102:304`: a dotted tail is two words written the other way. */
const withHexTail = (text: string): string => {
  const lastColon = text.lastIndexOf(":")
  const tail = text.slice(lastColon + 1)
  if (!tail.includes(".")) return text
  const [a = 0, b = 0, c = 0, d = 0] = tail.split(".").map(Number)
  return `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
}

/** The eight words of an IPv6 address in hex groups, `::` expanded; the text is known valid. */
const ipv6Words = (text: string): ReadonlyArray<number> | undefined => {
  const groups = (part: string) => (part === "" ? [] : part.split(":"))
  const halves = text.split("::")
  const [left = [], right = []] = halves.map(groups)
  // `Math.max`: a `::` standing for no group at all must not make a negative count.
  const all = halves.length === 2
    ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right]
    : left
  return all.length === 8 ? all.map((group) => parseInt(group, 16)) : undefined
}

/**
 * The IPv6 address in `bytes` (16 of them) as node shows it in `socket.remoteAddress`
 * (libuv's `inet_ntop`): the longest run of two or more zero words (the first of equals)
 * becomes `::`, and an IPv4-mapped (`::ffff:a.b.c.d`) or IPv4-compatible (`::a.b.c.d`)
 * address ends in dotted IPv4. The same text whatever wrote it, so that a header's
 * address compares equal to the one a direct connection would show.
 */
export const ipv6Text = (bytes: Uint8Array): string => {
  const words = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0))
  const run = longestZeroRun(words)
  const hex = (from: number, to: number) => words.slice(from, to).map((word) => word.toString(16)).join(":")
  if (run.base === 0 && (run.length === 6 || (run.length === 5 && words[5] === 0xffff))) {
    return `::${run.length === 5 ? "ffff:" : ""}${Array.from(bytes.subarray(12, 16)).join(".")}`
  }
  if (run.length < 2) return hex(0, 8)
  return `${hex(0, run.base)}::${hex(run.base + run.length, 8)}`
}

/** Where the longest run of zero words starts and how long it is (the first of equal runs). */
const longestZeroRun = (words: ReadonlyArray<number>): { readonly base: number; readonly length: number } => {
  let best = { base: -1, length: 0 }
  let base = -1
  for (let i = 0; i <= words.length; i++) {
    if (i < words.length && words[i] === 0) {
      if (base === -1) base = i
    } else if (base !== -1) {
      if (i - base > best.length) best = { base, length: i - base }
      base = -1
    }
  }
  return best
}

/**
 * The PROXY protocol header the proxy sends a destination before a source's bytes
 * (`--send-proxy-protocol`), naming the source's connection as the proxy saw it.
 * Pure; called once a source connection, so written to be plain rather than fast.
 */
import { isIPv4 } from "node:net"
import type { HeaderAddress, HeaderFamily, SendVersion } from "./Header.js"
import { ipv6Bytes, ipv6Text, v2Signature } from "./Header.js"

/** The source connection: `source` is the client, `destination` the address it connected to. */
export interface Origin {
  readonly source: HeaderAddress
  readonly destination: HeaderAddress
}

/**
 * The header for `origin`; without one (or with an address or port that is not one,
 * which a connected socket does not give), `UNKNOWN` (v1) or `UNSPEC` (v2), which tell
 * the destination to take the proxy's own address.
 *
 * Addresses are taken as node shows them: two IPv4 ones, IPv4-mapped ones
 * (`::ffff:192.0.2.7`, what a dual-stack listener shows) included, make a TCP4 header
 * with plain IPv4; with a real IPv6 one among them, a TCP6 header, the IPv4 one mapped.
 */
export const encodeHeader = (version: SendVersion, origin: Origin | undefined): Uint8Array => {
  const ends = origin === undefined ? undefined : endsOf(origin)
  return version === "v1" ? encodeV1(ends) : encodeV2(ends)
}

/** One end of the connection as it goes on the wire: its address's bytes (4 or 16) and port. */
interface End {
  readonly bytes: Uint8Array
  readonly port: number
}

interface Ends {
  readonly family: HeaderFamily
  readonly source: End
  readonly destination: End
}

/** An address's bytes, IPv4 (4 bytes, an IPv4-mapped IPv6 one included) or IPv6 (16). */
const addressBytes = (address: string): Uint8Array | undefined => {
  if (isIPv4(address)) return Uint8Array.from(address.split(".").map(Number))
  // A link-local address may come with its zone (`fe80::1%eth0`), which a header cannot carry.
  const v6 = ipv6Bytes(address.split("%")[0] ?? "")
  if (v6 === undefined) return undefined
  return isIPv4Mapped(v6) ? v6.slice(12) : v6
}

const isIPv4Mapped = (v6: Uint8Array): boolean =>
  v6.subarray(0, 10).every((byte) => byte === 0) &&
  v6[10] === 0xff && v6[11] === 0xff

const mapped = (v4: Uint8Array): Uint8Array => Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4)

const isPort = (port: number): boolean => Number.isInteger(port) && port >= 0 && port <= 65535

/** Both ends in one family, or `undefined` when either cannot be written. */
const endsOf = (origin: Origin): Ends | undefined => {
  const source = addressBytes(origin.source.address)
  const destination = addressBytes(origin.destination.address)
  if (source === undefined || destination === undefined) return undefined
  if (!isPort(origin.source.port) || !isPort(origin.destination.port)) return undefined
  const family = source.length === 4 && destination.length === 4 ? "tcp4" : "tcp6"
  const inFamily = (bytes: Uint8Array) => (family === "tcp6" && bytes.length === 4 ? mapped(bytes) : bytes)
  return {
    family,
    source: { bytes: inFamily(source), port: origin.source.port },
    destination: { bytes: inFamily(destination), port: origin.destination.port }
  }
}

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text)

/** "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n", or "PROXY UNKNOWN\r\n". */
const encodeV1 = (ends: Ends | undefined): Uint8Array => {
  if (ends === undefined) return ascii("PROXY UNKNOWN\r\n")
  const text = (end: End) => (ends.family === "tcp4" ? Array.from(end.bytes).join(".") : ipv6Text(end.bytes))
  const protocol = ends.family === "tcp4" ? "TCP4" : "TCP6"
  return ascii(
    `PROXY ${protocol} ${text(ends.source)} ${text(ends.destination)} ${ends.source.port} ${ends.destination.port}\r\n`
  )
}

const v2Proxy = 0x21 // version 2, command PROXY
const v2Unspec = 0x00
const v2Tcp4 = 0x11
const v2Tcp6 = 0x21

/** Signature, PROXY, family, length, then the addresses and ports; no TLVs. */
const encodeV2 = (ends: Ends | undefined): Uint8Array => {
  const block = ends === undefined ? new Uint8Array(0) : Uint8Array.of(
    ...ends.source.bytes,
    ...ends.destination.bytes,
    ...u16(ends.source.port),
    ...u16(ends.destination.port)
  )
  const family = ends === undefined ? v2Unspec : ends.family === "tcp4" ? v2Tcp4 : v2Tcp6
  return Uint8Array.of(...v2Signature, v2Proxy, family, ...u16(block.length), ...block)
}

const u16 = (n: number): ReadonlyArray<number> => [(n >> 8) & 0xff, n & 0xff]

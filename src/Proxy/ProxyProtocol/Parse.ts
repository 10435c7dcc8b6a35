/**
 * Reading a PROXY protocol header (HAProxy's `proxy-protocol.txt`, v1 text and v2
 * binary) from the first bytes of a connection. Pure: the caller accumulates what the
 * connection sent and asks again with more until the answer is not `Incomplete`.
 *
 * Hardened for bytes from anyone: it never throws, never loops over more than the
 * header's bound (107 bytes for v1, `maxV2Length` for v2) whatever the input's size,
 * copies nothing but that bound, and refuses as soon as the bytes seen cannot begin a
 * header, so that garbage is turned away at once rather than at the header timeout.
 *
 * Strictness, where the spec leaves room:
 * - v1: single spaces; TCP4 takes only IPv4 and TCP6 only IPv6 (no zone id); ports are
 *   decimal 0..65535 without sign or leading zeros ("0" itself is fine); the line ends
 *   with CRLF, a bare LF is refused; after UNKNOWN anything up to CRLF is ignored, as
 *   the spec says. TCP6 addresses are given in node's form (`2001:db8::7`), whatever
 *   form the sender wrote.
 * - v2: LOCAL takes any family and length, since the spec says the whole address block,
 *   family included, is to be ignored; PROXY takes only the seven families the spec
 *   lists, each with at least its address block. TLVs are skipped, not read.
 */
import { isIPv4 } from "node:net"
import type { HeaderAddress, ProxyHeader } from "./Header.js"
import { ipv6Bytes, ipv6Text, maxV1Length, maxV2Length, v2FixedLength, v2Signature } from "./Header.js"

export type ParseResult =
  /** A valid prefix of a header: more bytes are needed. */
  | { readonly _tag: "Incomplete" }
  /** Not a header; `reason` is short, for a log line. */
  | { readonly _tag: "Invalid"; readonly reason: string }
  /** The header, `length` bytes long: the stream's own data starts at `bytes[length]`. */
  | { readonly _tag: "Complete"; readonly header: ProxyHeader; readonly length: number }

const incomplete: ParseResult = { _tag: "Incomplete" }
const invalid = (reason: string): ParseResult => ({ _tag: "Invalid", reason })
const complete = (header: ProxyHeader, length: number): ParseResult => ({ _tag: "Complete", header, length })

/** What every v1 header begins with. */
const v1Start = Uint8Array.of(0x50, 0x52, 0x4f, 0x58, 0x59, 0x20) // "PROXY "
const CR = 0x0d
const LF = 0x0a

/** What the connection has sent so far on its way to a header: see `ParseResult`. */
export const parseHeader = (bytes: Uint8Array): ParseResult => {
  if (bytes.length === 0) return incomplete
  const v1 = agreeing(bytes, v1Start)
  if (v1 === Math.min(bytes.length, v1Start.length)) return parseV1(bytes)
  const v2 = agreeing(bytes, v2Signature)
  if (v2 === Math.min(bytes.length, v2Signature.length)) return parseV2(bytes)
  return invalid(`no PROXY header: the connection began with ${hexBytes(bytes, Math.max(v1, v2) + 1)}`)
}

/** How many of the first bytes of `bytes` are those of `expected`. */
const agreeing = (bytes: Uint8Array, expected: Uint8Array): number => {
  const n = Math.min(bytes.length, expected.length)
  let i = 0
  while (i < n && bytes[i] === expected[i]) i++
  return i
}

/** The first bytes in hex, up to the first one that did not fit (and at least 3, for context). */
const hexBytes = (bytes: Uint8Array, upTo: number): string =>
  Array.from(bytes.subarray(0, Math.min(Math.max(upTo, 3), v2Signature.length)))
    .map((byte) => `0x${byte.toString(16).padStart(2, "0")}`)
    .join(" ")

// ---------------------------------------------------------------------------------------
// v1: "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n"

const parseV1 = (bytes: Uint8Array): ParseResult => {
  if (bytes.length < v1Start.length) return incomplete
  // Only the bound is ever looked at: a line without LF in it is refused, however much follows.
  const window = bytes.subarray(0, maxV1Length)
  const lf = window.indexOf(LF)
  if (lf === -1) {
    if (window.length >= maxV1Length) return invalid(`v1 header longer than ${maxV1Length} bytes`)
    // A CR last is the start of the CRLF: what comes before it is the whole line.
    const crLast = window[window.length - 1] === CR
    const rest = latin1(window.subarray(v1Start.length, crLast ? -1 : undefined))
    const problem = crLast ? v1LineProblem(rest) : v1PrefixProblem(rest)
    return problem === undefined ? incomplete : invalid(problem)
  }
  if (window[lf - 1] !== CR) return invalid("v1 header line ends with LF without CR")
  const header = v1Header(latin1(window.subarray(v1Start.length, lf - 1)))
  return typeof header === "string" ? invalid(header) : complete(header, lf + 1)
}

/** One character a byte, so that a stray byte stays one character and shows as itself. */
const latin1 = (bytes: Uint8Array): string => String.fromCharCode(...bytes)

type V1Protocol = "TCP4" | "TCP6" | "UNKNOWN"
const v1Protocols: ReadonlyArray<V1Protocol> = ["TCP4", "TCP6", "UNKNOWN"]

/** The fields after the protocol of a TCP line, and what each must be. */
const v1Fields = ["source address", "destination address", "source port", "destination port"] as const
type V1Field = (typeof v1Fields)[number]

/** The header of the v1 line whose text after "PROXY " is `rest` (CRLF excluded), or why it is none. */
const v1Header = (rest: string): ProxyHeader | string => {
  const problem = v1LineProblem(rest)
  if (problem !== undefined) return problem
  const [protocol, source = "", destination = "", sourcePort = "", destinationPort = ""] = rest.split(" ")
  if (protocol === "UNKNOWN") return { _tag: "Unknown", version: 1 }
  const family = protocol === "TCP4" ? "tcp4" : "tcp6"
  const address = (text: string, port: string): HeaderAddress => ({
    // Checked above: `ipv6Bytes` has the bytes; written again as node would show them.
    address: family === "tcp4" ? text : ipv6Text(ipv6Bytes(text) ?? new Uint8Array(16)),
    port: Number(port)
  })
  return {
    _tag: "Proxied",
    version: 1,
    family,
    source: address(source, sourcePort),
    destination: address(destination, destinationPort)
  }
}

/** Why a whole v1 line (text after "PROXY ", CRLF excluded) is not a header, if it is not. */
const v1LineProblem = (rest: string): string | undefined => v1Problem(rest, true)

/** Why the start of a v1 line (text after "PROXY ", no CRLF yet) cannot become a header, if it cannot. */
const v1PrefixProblem = (rest: string): string | undefined => v1Problem(rest, false)

/**
 * The one check for a whole line and for its start, so that a line refused whole is
 * refused for the same reason when it comes a byte at a time: every field followed by
 * a space is whole; the last one, unless the line is, may still grow.
 */
const v1Problem = (rest: string, whole: boolean): string | undefined => {
  const [protocol = "", ...fields] = rest.split(" ")
  if (protocol === "UNKNOWN") return undefined // the spec: the rest of an UNKNOWN line is ignored
  if (!whole && fields.length === 0) {
    return v1Protocols.some((known) => known.startsWith(protocol)) ? undefined : unknownProtocol(protocol)
  }
  if (protocol !== "TCP4" && protocol !== "TCP6") return unknownProtocol(protocol)
  // The fields in order first, then their count, as a line coming a byte at a time meets them.
  const fieldProblem = firstProblem(fields.slice(0, v1Fields.length), (value, i) => {
    const field = v1Fields[i] ?? "destination port"
    return whole || i < fields.length - 1
      ? v1FieldProblem(protocol, field, value)
      : v1FieldPrefixProblem(protocol, field, value)
  })
  if (fieldProblem !== undefined) return fieldProblem
  if (fields.length > v1Fields.length) return `v1 ${protocol} header has more than 4 fields after the protocol`
  if (whole && fields.length < v1Fields.length) {
    return `v1 ${protocol} header has ${fields.length} fields after the protocol, not 4`
  }
  return undefined
}

const firstProblem = (
  fields: ReadonlyArray<string>,
  problem: (value: string, i: number) => string | undefined
): string | undefined => {
  for (let i = 0; i < fields.length; i++) {
    const found = problem(fields[i] ?? "", i)
    if (found !== undefined) return found
  }
  return undefined
}

const unknownProtocol = (protocol: string): string =>
  `v1 protocol "${printable(protocol)}" is none of TCP4, TCP6, UNKNOWN`

/** Why a whole field of a TCP4/TCP6 line is wrong, if it is. */
const v1FieldProblem = (protocol: "TCP4" | "TCP6", field: V1Field, value: string): string | undefined => {
  if (field.endsWith("port")) {
    return isPort(value) ? undefined : `v1 ${field} "${printable(value)}" is not a port (0..65535, no leading zero)`
  }
  const valid = protocol === "TCP4" ? isIPv4(value) : ipv6Bytes(value) !== undefined
  return valid ? undefined : `v1 ${field} "${printable(value)}" is not ${protocol === "TCP4" ? "IPv4" : "IPv6"}`
}

/** Why the start of a field of a TCP4/TCP6 line cannot become a valid field, if it cannot. */
const v1FieldPrefixProblem = (protocol: "TCP4" | "TCP6", field: V1Field, value: string): string | undefined => {
  // A prefix of a port without a leading zero is itself such a port, and no larger.
  const valid = field.endsWith("port")
    ? value === "" || isPort(value)
    : (protocol === "TCP4" ? ipv4Prefix : ipv6Prefix).test(value)
  return valid ? undefined : v1FieldProblem(protocol, field, value)
}

/** What can begin an address: its characters, no longer than the longest text of one. */
const ipv4Prefix = /^[0-9.]{0,15}$/
const ipv6Prefix = /^[0-9A-Fa-f:.]{0,45}$/

const isPort = (text: string): boolean => /^(0|[1-9][0-9]{0,4})$/.test(text) && Number(text) <= 65535

/** Text from the wire, safe for a log line: anything but printable ASCII as `\xNN`, and bounded. */
const printable = (text: string): string =>
  text.slice(0, 48).replace(/[^\x20-\x7e]|\\|"/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)

// ---------------------------------------------------------------------------------------
// v2: signature, version and command, family and protocol, length (big-endian), addresses, TLVs.

interface V2Family {
  readonly name: string
  /** The address block's bytes, at the start of what the length covers. */
  readonly addressLength: number
  readonly read: (block: Uint8Array) => ProxyHeader
}

/** The balancer's address stands: the header names nothing a TCP connection can use. */
const unknownV2 = (): ProxyHeader => ({ _tag: "Unknown", version: 2 })

const port = (block: Uint8Array, at: number): number => ((block[at] ?? 0) << 8) | (block[at + 1] ?? 0)

const tcp4 = (block: Uint8Array): ProxyHeader => ({
  _tag: "Proxied",
  version: 2,
  family: "tcp4",
  source: { address: Array.from(block.subarray(0, 4)).join("."), port: port(block, 8) },
  destination: { address: Array.from(block.subarray(4, 8)).join("."), port: port(block, 10) }
})

const tcp6 = (block: Uint8Array): ProxyHeader => ({
  _tag: "Proxied",
  version: 2,
  family: "tcp6",
  source: { address: ipv6Text(block.subarray(0, 16)), port: port(block, 32) },
  destination: { address: ipv6Text(block.subarray(16, 32)), port: port(block, 34) }
})

/** The spec's family and protocol bytes; it says every other value is to be refused. */
const v2Families: ReadonlyMap<number, V2Family> = new Map([
  [0x00, { name: "UNSPEC", addressLength: 0, read: unknownV2 }],
  [0x11, { name: "TCP over IPv4", addressLength: 12, read: tcp4 }],
  [0x12, { name: "UDP over IPv4", addressLength: 12, read: unknownV2 }],
  [0x21, { name: "TCP over IPv6", addressLength: 36, read: tcp6 }],
  [0x22, { name: "UDP over IPv6", addressLength: 36, read: unknownV2 }],
  [0x31, { name: "UNIX stream", addressLength: 216, read: unknownV2 }],
  [0x32, { name: "UNIX datagram", addressLength: 216, read: unknownV2 }]
])

const localCommand = 0x0
const proxyCommand = 0x1

/** Each field is checked as soon as its byte is in, so that a wrong one is refused at once. */
const parseV2 = (bytes: Uint8Array): ParseResult => {
  const versionCommand = bytes[12]
  if (versionCommand === undefined) return incomplete
  const version = versionCommand >> 4
  if (version !== 2) return invalid(`v2 header of version ${version}, not 2`)
  const command = versionCommand & 0x0f
  if (command !== localCommand && command !== proxyCommand) {
    return invalid(`v2 command ${command} is neither LOCAL (0) nor PROXY (1)`)
  }
  const familyByte = bytes[13]
  if (familyByte === undefined) return incomplete
  // LOCAL: the spec says to ignore the whole address block, its family included.
  const family = command === proxyCommand ? v2Families.get(familyByte) : undefined
  if (command === proxyCommand && family === undefined) {
    return invalid(`v2 address family and protocol 0x${familyByte.toString(16).padStart(2, "0")} unknown`)
  }
  const high = bytes[14]
  const low = bytes[15]
  if (high === undefined || low === undefined) return incomplete
  const declared = (high << 8) | low
  const length = v2FixedLength + declared
  if (length > maxV2Length) return invalid(`v2 header of ${length} bytes, more than the ${maxV2Length} taken`)
  if (family !== undefined && declared < family.addressLength) {
    return invalid(`v2 address length ${declared} too short for ${family.name} (${family.addressLength})`)
  }
  if (bytes.length < length) return incomplete
  if (family === undefined) return complete({ _tag: "Local", version: 2 }, length)
  const block = bytes.subarray(v2FixedLength, v2FixedLength + family.addressLength)
  return complete(family.read(block), length)
}

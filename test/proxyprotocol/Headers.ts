/**
 * Headers and addresses for the PROXY protocol tests: v2 headers built byte by byte
 * (independently of the encoder under test), and arbitraries for addresses and origins.
 */
import { FastCheck } from "effect"
import * as net from "node:net"
import type { Origin } from "../../src/Proxy/ProxyProtocol/Encode.js"
import type { HeaderAddress } from "../../src/Proxy/ProxyProtocol/Header.js"
import { v2Signature } from "../../src/Proxy/ProxyProtocol/Header.js"

/** The bytes of `text`, one a character. */
export const bytesOf = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, "latin1"))

export const concat = (...parts: ReadonlyArray<Uint8Array | ReadonlyArray<number>>): Uint8Array =>
  Uint8Array.from(parts.flatMap((part) => Array.from(part)))

/** A v2 header: signature, the two bytes given, `length` (by default the rest's), the rest. */
export const v2 = (
  versionCommand: number,
  family: number,
  rest: ReadonlyArray<number> | Uint8Array,
  length: number = rest.length
): Uint8Array => concat(v2Signature, [versionCommand, family, length >> 8, length & 0xff], rest)

export const u16 = (n: number): ReadonlyArray<number> => [n >> 8, n & 0xff]

/** Node's own text for an IPv6 address (libuv's `inet_ntop`, as `socket.remoteAddress` shows it). */
export const nodeIPv6 = (text: string): string => new net.SocketAddress({ address: text, family: "ipv6" }).address

/** An IPv6 address's uncompressed text, from its 16 bytes. */
export const fullIPv6 = (bytes: Uint8Array): string =>
  Array.from({ length: 8 }, (_, i) => (((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0)).toString(16)).join(":")

/** 16 bytes, with zero words common so that `::` runs, ties and IPv4 tails come up. */
export const ipv6BytesArb: FastCheck.Arbitrary<Uint8Array> = FastCheck.array(
  FastCheck.oneof(
    FastCheck.constant(0),
    FastCheck.constant(0xffff),
    FastCheck.integer({ min: 1, max: 0xffff })
  ),
  { minLength: 8, maxLength: 8 }
).map((words) => Uint8Array.from(words.flatMap((word) => [word >> 8, word & 0xff])))

/** A real IPv6 address (not IPv4-mapped), in node's text. */
export const ipv6Arb: FastCheck.Arbitrary<string> = ipv6BytesArb
  .map((bytes) => nodeIPv6(fullIPv6(bytes)))
  .filter((text) => !text.startsWith("::ffff:") || !net.isIPv4(text.slice(7)))

export const portArb = FastCheck.integer({ min: 0, max: 65535 })

/** An address as node may show a peer: IPv4, IPv4-mapped IPv6, or IPv6. */
export const addressArb: FastCheck.Arbitrary<string> = FastCheck.oneof(
  FastCheck.ipV4(),
  FastCheck.ipV4().map((v4) => `::ffff:${v4}`),
  ipv6Arb
)

const endArb: FastCheck.Arbitrary<HeaderAddress> = FastCheck.record({ address: addressArb, port: portArb })

export const originArb: FastCheck.Arbitrary<Origin> = FastCheck.record({ source: endArb, destination: endArb })

/** What a header names for `origin`, as the encoder is meant to write it (the test's own model). */
export const expectedEnds = (origin: Origin) => {
  const v4 = (address: string) =>
    net.isIPv4(address) ? address : address.startsWith("::ffff:") && net.isIPv4(address.slice(7))
      ? address.slice(7)
      : undefined
  const [source, destination] = [v4(origin.source.address), v4(origin.destination.address)]
  if (source !== undefined && destination !== undefined) {
    return {
      family: "tcp4" as const,
      source: { address: source, port: origin.source.port },
      destination: { address: destination, port: origin.destination.port }
    }
  }
  const v6 = (address: string) => nodeIPv6(v4(address) === undefined ? address : `::ffff:${v4(address)}`)
  return {
    family: "tcp6" as const,
    source: { address: v6(origin.source.address), port: origin.source.port },
    destination: { address: v6(origin.destination.address), port: origin.destination.port }
  }
}

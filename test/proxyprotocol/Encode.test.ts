import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as ProxyProtocolJs from "proxy-protocol-js"
import type { Origin } from "../../src/Proxy/ProxyProtocol/Encode.js"
import { encodeHeader } from "../../src/Proxy/ProxyProtocol/Encode.js"
import { ipv6Bytes, v2Signature } from "../../src/Proxy/ProxyProtocol/Header.js"
import { parseHeader } from "../../src/Proxy/ProxyProtocol/Parse.js"
import { bytesOf, concat, expectedEnds, originArb, u16 } from "./Headers.js"

const origin = (source: string, sourcePort: number, destination: string, destinationPort: number): Origin => ({
  source: { address: source, port: sourcePort },
  destination: { address: destination, port: destinationPort }
})

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")

describe("encodeHeader: byte for byte", () => {
  it("no origin: v1 UNKNOWN, v2 PROXY UNSPEC with no address block", () => {
    expect(text(encodeHeader("v1", undefined))).toBe("PROXY UNKNOWN\r\n")
    expect(encodeHeader("v2", undefined)).toEqual(concat(v2Signature, [0x21, 0x00, 0x00, 0x00]))
  })

  it("IPv4: TCP4", () => {
    const o = origin("192.0.2.7", 56324, "198.51.100.1", 443)
    expect(text(encodeHeader("v1", o))).toBe("PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n")
    expect(encodeHeader("v2", o)).toEqual(
      concat(v2Signature, [0x21, 0x11, 0, 12, 192, 0, 2, 7, 198, 51, 100, 1, ...u16(56324), ...u16(443)])
    )
  })

  it("IPv4-mapped addresses (a dual-stack listener's) are written as plain IPv4", () => {
    const o = origin("::ffff:192.0.2.7", 0, "::ffff:198.51.100.1", 65535)
    expect(text(encodeHeader("v1", o))).toBe("PROXY TCP4 192.0.2.7 198.51.100.1 0 65535\r\n")
    expect(encodeHeader("v2", o)).toEqual(
      concat(v2Signature, [0x21, 0x11, 0, 12, 192, 0, 2, 7, 198, 51, 100, 1, 0, 0, 0xff, 0xff])
    )
    const mixed = origin("::ffff:127.0.0.1", 5, "127.0.0.1", 443)
    expect(text(encodeHeader("v1", mixed))).toBe("PROXY TCP4 127.0.0.1 127.0.0.1 5 443\r\n")
  })

  it("IPv6: TCP6, in node's compressed form", () => {
    const o = origin("2001:0db8:0:0:0:0:0:7", 1234, "::1", 8443)
    expect(text(encodeHeader("v1", o))).toBe("PROXY TCP6 2001:db8::7 ::1 1234 8443\r\n")
    expect(encodeHeader("v2", o)).toEqual(concat(
      v2Signature,
      [0x21, 0x21, 0, 36],
      [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7],
      [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
      u16(1234),
      u16(8443)
    ))
  })

  it("IPv6 with IPv4: TCP6, the IPv4 one mapped", () => {
    const o = origin("192.0.2.7", 1, "2001:db8::1", 2)
    expect(text(encodeHeader("v1", o))).toBe("PROXY TCP6 ::ffff:192.0.2.7 2001:db8::1 1 2\r\n")
    const v2 = encodeHeader("v2", o)
    expect(Array.from(v2.subarray(12, 16))).toEqual([0x21, 0x21, 0, 36])
    expect(Array.from(v2.subarray(16, 32))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7])
  })

  it("a zone id is dropped: a header cannot carry it", () => {
    expect(text(encodeHeader("v1", origin("fe80::1%eth0", 1, "fe80::2", 2)))).toBe("PROXY TCP6 fe80::1 fe80::2 1 2\r\n")
  })

  it("an address or port that is none: UNKNOWN / UNSPEC", () => {
    for (
      const o of [
        origin("localhost", 1, "192.0.2.7", 2),
        origin("192.0.2.7", 1, "", 2),
        origin("192.0.2.7", 1, "192.0.2.256", 2),
        origin("192.0.2.7", -1, "192.0.2.8", 2),
        origin("192.0.2.7", 1, "192.0.2.8", 65536),
        origin("192.0.2.7", 1.5, "192.0.2.8", 2)
      ]
    ) {
      expect(encodeHeader("v1", o)).toEqual(encodeHeader("v1", undefined))
      expect(encodeHeader("v2", o)).toEqual(encodeHeader("v2", undefined))
    }
  })
})

const versionArb = FastCheck.constantFrom("v1" as const, "v2" as const)

describe("encodeHeader → parseHeader", () => {
  it.prop("round trip: the same addresses and ports, the stream's data after it untouched", [
    versionArb,
    originArb,
    FastCheck.uint8Array({ maxLength: 64 })
  ], ([version, o, data]) => {
    const header = encodeHeader(version, o)
    const result = parseHeader(concat(header, data))
    expect(result).toEqual({
      _tag: "Complete",
      header: { _tag: "Proxied", version: version === "v1" ? 1 : 2, ...expectedEnds(o) },
      length: header.length
    })
  }, { fastCheck: { numRuns: 1000 } })

  it("no origin: Unknown", () => {
    expect(parseHeader(encodeHeader("v1", undefined))).toEqual({
      _tag: "Complete",
      header: { _tag: "Unknown", version: 1 },
      length: 15
    })
    expect(parseHeader(encodeHeader("v2", undefined))).toEqual({
      _tag: "Complete",
      header: { _tag: "Unknown", version: 2 },
      length: 16
    })
  })
})

// proxy-protocol-js (moznion), an independent implementation, reads what we send.
describe("encodeHeader, read by proxy-protocol-js", () => {
  /** An address's bytes as proxy-protocol-js gives them, for the expected text. */
  const bytesFor = (address: string, family: "tcp4" | "tcp6"): ReadonlyArray<number> =>
    family === "tcp4" ? address.split(".").map(Number) : Array.from(ipv6Bytes(address) ?? [])

  it.prop("v1: protocol, addresses and ports", [originArb], ([o]) => {
    const parsed = ProxyProtocolJs.V1ProxyProtocol.parse(text(encodeHeader("v1", o)))
    const expected = expectedEnds(o)
    expect(parsed.inetProtocol).toBe(expected.family === "tcp4" ? "TCP4" : "TCP6")
    expect([parsed.source.ipAddress, parsed.source.port]).toEqual([expected.source.address, expected.source.port])
    expect([parsed.destination.ipAddress, parsed.destination.port]).toEqual([
      expected.destination.address,
      expected.destination.port
    ])
    expect(parsed.data).toBe("")
  }, { fastCheck: { numRuns: 300 } })

  it.prop("v2: command, protocol, family, addresses and ports, nothing after", [originArb], ([o]) => {
    const parsed = ProxyProtocolJs.V2ProxyProtocol.parse(encodeHeader("v2", o))
    const expected = expectedEnds(o)
    expect(parsed.command).toBe(ProxyProtocolJs.Command.PROXY)
    expect(parsed.transportProtocol).toBe(ProxyProtocolJs.TransportProtocol.STREAM)
    const address = parsed.proxyAddress
    if (expected.family === "tcp4") {
      expect(parsed.addressFamilyType).toBe(ProxyProtocolJs.AddressFamilyType.INET)
      if (!(address instanceof ProxyProtocolJs.IPv4ProxyAddress)) throw new Error("not an IPv4 address block")
    } else {
      expect(parsed.addressFamilyType).toBe(ProxyProtocolJs.AddressFamilyType.INET6)
      if (!(address instanceof ProxyProtocolJs.IPv6ProxyAddress)) throw new Error("not an IPv6 address block")
    }
    expect(Array.from(address.sourceAddress.address)).toEqual(bytesFor(expected.source.address, expected.family))
    expect(Array.from(address.destinationAddress.address)).toEqual(
      bytesFor(expected.destination.address, expected.family)
    )
    expect([address.sourcePort, address.destinationPort]).toEqual([expected.source.port, expected.destination.port])
    expect(parsed.data?.length ?? 0).toBe(0)
  }, { fastCheck: { numRuns: 300 } })

  it("v2 without origin: PROXY, UNSPEC, nothing after", () => {
    const parsed = ProxyProtocolJs.V2ProxyProtocol.parse(encodeHeader("v2", undefined))
    expect(parsed.command).toBe(ProxyProtocolJs.Command.PROXY)
    expect(parsed.addressFamilyType).toBe(ProxyProtocolJs.AddressFamilyType.UNSPEC)
    expect(parsed.transportProtocol).toBe(ProxyProtocolJs.TransportProtocol.UNSPEC)
    expect(parsed.data?.length ?? 0).toBe(0)
  })

  it.prop("and what proxy-protocol-js builds, parseHeader reads", [originArb], ([o]) => {
    const expected = expectedEnds(o)
    const v1 = new ProxyProtocolJs.V1ProxyProtocol(
      expected.family === "tcp4" ? ProxyProtocolJs.INETProtocol.TCP4 : ProxyProtocolJs.INETProtocol.TCP6,
      new ProxyProtocolJs.Peer(expected.source.address, expected.source.port),
      new ProxyProtocolJs.Peer(expected.destination.address, expected.destination.port)
    ).build()
    const block = expected.family === "tcp4"
      ? new ProxyProtocolJs.IPv4ProxyAddress(
        ProxyProtocolJs.IPv4Address.createFrom([...bytesFor(expected.source.address, "tcp4")]),
        expected.source.port,
        ProxyProtocolJs.IPv4Address.createFrom([...bytesFor(expected.destination.address, "tcp4")]),
        expected.destination.port
      )
      : new ProxyProtocolJs.IPv6ProxyAddress(
        ProxyProtocolJs.IPv6Address.createFrom([...bytesFor(expected.source.address, "tcp6")]),
        expected.source.port,
        ProxyProtocolJs.IPv6Address.createFrom([...bytesFor(expected.destination.address, "tcp6")]),
        expected.destination.port
      )
    const v2 = new ProxyProtocolJs.V2ProxyProtocol(
      ProxyProtocolJs.Command.PROXY,
      ProxyProtocolJs.TransportProtocol.STREAM,
      block
    ).build()
    expect(parseHeader(bytesOf(v1))).toEqual({
      _tag: "Complete",
      header: { _tag: "Proxied", version: 1, ...expected },
      length: v1.length
    })
    expect(parseHeader(v2)).toEqual({
      _tag: "Complete",
      header: { _tag: "Proxied", version: 2, ...expected },
      length: v2.length
    })
  }, { fastCheck: { numRuns: 300 } })
})

import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import { encodeHeader } from "../../src/Proxy/ProxyProtocol/Encode.js"
import type { ProxyHeader } from "../../src/Proxy/ProxyProtocol/Header.js"
import { maxV1Length, maxV2Length, v2Signature } from "../../src/Proxy/ProxyProtocol/Header.js"
import type { ParseResult } from "../../src/Proxy/ProxyProtocol/Parse.js"
import { parseHeader } from "../../src/Proxy/ProxyProtocol/Parse.js"
import { bytesOf, concat, originArb, u16, v2 } from "./Headers.js"

const proxied = (
  version: 1 | 2,
  family: "tcp4" | "tcp6",
  source: string,
  sourcePort: number,
  destination: string,
  destinationPort: number
): ProxyHeader => ({
  _tag: "Proxied",
  version,
  family,
  source: { address: source, port: sourcePort },
  destination: { address: destination, port: destinationPort }
})

const completeWith = (header: ProxyHeader, length: number): ParseResult => ({ _tag: "Complete", header, length })

/** The reason, when `bytes` is refused; fails the test otherwise. */
const reasonFor = (bytes: Uint8Array): string => {
  const result = parseHeader(bytes)
  if (result._tag !== "Invalid") throw new Error(`expected Invalid, got ${JSON.stringify(result)}`)
  return result.reason
}

/** Every strict prefix of `header` is Incomplete (never Invalid); the whole, `expected`. */
const expectPrefixesIncomplete = (header: Uint8Array) => {
  for (let n = 0; n < header.length; n++) {
    expect(parseHeader(header.subarray(0, n)), `prefix of ${n} bytes`).toEqual({ _tag: "Incomplete" })
  }
}

const ffff6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
const tcp4Block = [192, 0, 2, 7, 198, 51, 100, 1, ...u16(56324), ...u16(443)]
const tcp6Block = [
  ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7],
  ...[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
  ...u16(1234),
  ...u16(8443)
]
const tlvs = [0x01, ...u16(2), 0x68, 0x32, 0x04, ...u16(0)] // ALPN "h2", a NOOP

/** Valid headers, each with what it says. */
const examples: ReadonlyArray<{ readonly name: string; readonly bytes: Uint8Array; readonly header: ProxyHeader }> = [
  {
    name: "v1 TCP4",
    bytes: bytesOf("PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n"),
    header: proxied(1, "tcp4", "192.0.2.7", 56324, "198.51.100.1", 443)
  },
  {
    name: "v1 TCP4, the spec's longest",
    bytes: bytesOf("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"),
    header: proxied(1, "tcp4", "255.255.255.255", 65535, "255.255.255.255", 65535)
  },
  {
    name: "v1 TCP6",
    bytes: bytesOf("PROXY TCP6 2001:db8::7 ::1 1234 8443\r\n"),
    header: proxied(1, "tcp6", "2001:db8::7", 1234, "::1", 8443)
  },
  {
    name: "v1 TCP6, the spec's longest",
    bytes: bytesOf(`PROXY TCP6 ${ffff6} ${ffff6} 65535 65535\r\n`),
    header: proxied(1, "tcp6", ffff6, 65535, ffff6, 65535)
  },
  {
    name: "v1 TCP6, written long: given as node shows it",
    bytes: bytesOf("PROXY TCP6 2001:0DB8:0:0:0:0:0:7 0:0:0:0:0:ffff:c000:0207 0 1\r\n"),
    header: proxied(1, "tcp6", "2001:db8::7", 0, "::ffff:192.0.2.7", 1)
  },
  { name: "v1 UNKNOWN", bytes: bytesOf("PROXY UNKNOWN\r\n"), header: { _tag: "Unknown", version: 1 } },
  {
    name: "v1 UNKNOWN with addresses (ignored), 107 bytes: the longest",
    bytes: bytesOf(`PROXY UNKNOWN ${ffff6} ${ffff6} 65535 65535\r\n`),
    header: { _tag: "Unknown", version: 1 }
  },
  { name: "v2 LOCAL", bytes: v2(0x20, 0x00, []), header: { _tag: "Local", version: 2 } },
  {
    name: "v2 LOCAL with an address block (skipped)",
    bytes: v2(0x20, 0x11, tcp4Block),
    header: { _tag: "Local", version: 2 }
  },
  {
    name: "v2 PROXY TCP over IPv4",
    bytes: v2(0x21, 0x11, tcp4Block),
    header: proxied(2, "tcp4", "192.0.2.7", 56324, "198.51.100.1", 443)
  },
  {
    name: "v2 PROXY TCP over IPv6",
    bytes: v2(0x21, 0x21, tcp6Block),
    header: proxied(2, "tcp6", "2001:db8::7", 1234, "::1", 8443)
  },
  {
    name: "v2 PROXY TCP over IPv4 with TLVs (skipped)",
    bytes: v2(0x21, 0x11, [...tcp4Block, ...tlvs]),
    header: proxied(2, "tcp4", "192.0.2.7", 56324, "198.51.100.1", 443)
  },
  {
    name: "v2 PROXY TCP over IPv6 with TLVs (skipped)",
    bytes: v2(0x21, 0x21, [...tcp6Block, ...tlvs]),
    header: proxied(2, "tcp6", "2001:db8::7", 1234, "::1", 8443)
  },
  { name: "v2 PROXY UNSPEC", bytes: v2(0x21, 0x00, []), header: { _tag: "Unknown", version: 2 } },
  { name: "v2 PROXY UNSPEC with TLVs", bytes: v2(0x21, 0x00, tlvs), header: { _tag: "Unknown", version: 2 } },
  { name: "v2 PROXY UDP over IPv4", bytes: v2(0x21, 0x12, tcp4Block), header: { _tag: "Unknown", version: 2 } },
  { name: "v2 PROXY UDP over IPv6", bytes: v2(0x21, 0x22, tcp6Block), header: { _tag: "Unknown", version: 2 } },
  {
    name: "v2 PROXY UNIX stream",
    bytes: v2(0x21, 0x31, Array<number>(216).fill(0x2f)),
    header: { _tag: "Unknown", version: 2 }
  },
  {
    name: "v2 PROXY UNIX datagram",
    bytes: v2(0x21, 0x32, Array<number>(216).fill(0x2f)),
    header: { _tag: "Unknown", version: 2 }
  },
  {
    name: "v2 PROXY, the longest taken",
    bytes: v2(0x21, 0x11, [...tcp4Block, ...Array<number>(maxV2Length - 16 - 12).fill(0)]),
    header: proxied(2, "tcp4", "192.0.2.7", 56324, "198.51.100.1", 443)
  }
]

describe("parseHeader: valid headers", () => {
  for (const { bytes, header, name } of examples) {
    it(`${name}: Complete, its length`, () => {
      expect(parseHeader(bytes)).toEqual(completeWith(header, bytes.length))
    })

    it(`${name}: the stream's data after it is left alone`, () => {
      const data = bytesOf("GET / HTTP/1.1\r\n\r\n\x00\r\nPROXY ")
      expect(parseHeader(concat(bytes, data))).toEqual(completeWith(header, bytes.length))
    })

    it(`${name}: every prefix is Incomplete`, () => {
      expectPrefixesIncomplete(bytes)
    })
  }

  it("v1: the longest line is 107 bytes", () => {
    expect(examples.find((e) => e.name.includes("107 bytes"))?.bytes.length).toBe(maxV1Length)
  })

  it("a large input: only the header's bound is read, the rest is the stream's", () => {
    const big = new Uint8Array(8 * 1024 * 1024).fill(0x0a)
    const header = bytesOf("PROXY UNKNOWN\r\n")
    big.set(header)
    expect(parseHeader(big)).toEqual(completeWith({ _tag: "Unknown", version: 1 }, header.length))
    expect(reasonFor(new Uint8Array(8 * 1024 * 1024).fill(0x50).fill(0, 1))).toMatch(/^no PROXY header/)
  })
})

describe("parseHeader: refused at once", () => {
  it("an empty input is Incomplete", () => {
    expect(parseHeader(new Uint8Array(0))).toEqual({ _tag: "Incomplete" })
  })

  it("bytes that begin neither header, from the first byte", () => {
    expect(reasonFor(bytesOf("GET / HTTP/1.1\r\n"))).toBe("no PROXY header: the connection began with 0x47 0x45 0x54")
    expect(reasonFor(bytesOf("G"))).toBe("no PROXY header: the connection began with 0x47")
    expect(reasonFor(bytesOf("\x16\x03\x01"))).toMatch(/^no PROXY header/)
    expect(reasonFor(bytesOf("PROXZ"))).toBe("no PROXY header: the connection began with 0x50 0x52 0x4f 0x58 0x5a")
    expect(reasonFor(bytesOf("proxy "))).toMatch(/^no PROXY header/)
    expect(reasonFor(bytesOf("PROXY\r\n"))).toMatch(/^no PROXY header/)
  })

  it("a wrong v2 signature, at its first wrong byte", () => {
    for (let i = 0; i < v2Signature.length; i++) {
      const signature = Uint8Array.from(v2Signature)
      signature[i] = (signature[i] ?? 0) ^ 0x40
      expect(reasonFor(signature.subarray(0, i + 1)), `byte ${i}`).toMatch(/^no PROXY header/)
    }
  })

  it("v1: a line without CRLF within 107 bytes", () => {
    const filler = "x".repeat(maxV1Length - "PROXY UNKNOWN \r\n".length)
    const longest = bytesOf(`PROXY UNKNOWN ${filler}\r\n`)
    expect(longest.length).toBe(maxV1Length)
    expect(parseHeader(longest)._tag).toBe("Complete")
    expect(reasonFor(bytesOf(`PROXY UNKNOWN ${filler}x\r\n`))).toBe("v1 header longer than 107 bytes")
    expect(reasonFor(bytesOf(`PROXY UNKNOWN ${filler}x\r`))).toBe("v1 header longer than 107 bytes")
    expect(parseHeader(bytesOf(`PROXY UNKNOWN ${filler}x`))).toEqual({ _tag: "Incomplete" })
  })

  it("v1: a bare LF, without CR", () => {
    expect(reasonFor(bytesOf("PROXY UNKNOWN\n"))).toBe("v1 header line ends with LF without CR")
    expect(reasonFor(bytesOf("PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\n"))).toMatch(/LF without CR/)
    expect(reasonFor(bytesOf("PROXY \n"))).toMatch(/LF without CR/)
  })

  const v1Bad: ReadonlyArray<readonly [string, RegExp]> = [
    ["PROXY TCP5 192.0.2.7 198.51.100.1 1 2\r\n", /protocol "TCP5"/],
    ["PROXY tcp4 192.0.2.7 198.51.100.1 1 2\r\n", /protocol "tcp4"/],
    ["PROXY UNKNOWNX\r\n", /protocol "UNKNOWNX"/],
    ["PROXY \r\n", /protocol ""/],
    ["PROXY  TCP4 192.0.2.7 198.51.100.1 1 2\r\n", /protocol ""/],
    ["PROXY TCP4  192.0.2.7 198.51.100.1 1 2\r\n", /source address "" is not IPv4/],
    ["PROXY TCP4 192.0.2.7 198.51.100.1 1 2 \r\n", /more than 4 fields/],
    ["PROXY TCP4 192.0.2.7 198.51.100.1 1\r\n", /has 3 fields after the protocol, not 4/],
    ["PROXY TCP4 192.0.2.7 198.51.100.1 1 2 3\r\n", /more than 4 fields/],
    ["PROXY TCP4\r\n", /has 0 fields/],
    ["PROXY TCP4 192.0.2.256 198.51.100.1 1 2\r\n", /source address "192.0.2.256" is not IPv4/],
    ["PROXY TCP4 192.0.2.07 198.51.100.1 1 2\r\n", /source address/],
    ["PROXY TCP4 192.0.2 198.51.100.1 1 2\r\n", /source address/],
    ["PROXY TCP4 192.0.2.7 ::1 1 2\r\n", /destination address "::1" is not IPv4/],
    ["PROXY TCP6 192.0.2.7 ::1 1 2\r\n", /source address "192.0.2.7" is not IPv6/],
    ["PROXY TCP6 ::1 2001:db8:::7 1 2\r\n", /destination address/],
    ["PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", /source address "fe80::1%eth0" is not IPv6/],
    ["PROXY TCP4 192.0.2.7 198.51.100.1 65536 2\r\n", /source port "65536"/],
    ["PROXY TCP4 192.0.2.7 198.51.100.1 1 -2\r\n", /destination port "-2"/],
    ["PROXY TCP4 192.0.2.7 198.51.100.1 +1 2\r\n", /source port "\+1"/],
    ["PROXY TCP4 192.0.2.7 198.51.100.1 01 2\r\n", /source port "01"/],
    ["PROXY TCP4 192.0.2.7 198.51.100.1 1 0x2\r\n", /destination port "0x2"/],
    ["PROXY TCP4 192.0.2.7 198.51.100.1 1 2\r\r\n", /destination port "2\\x0d"/],
    ["PROXY TCP4 192.0.2.7\t198.51.100.1 1 2\r\n", /\\x09/]
  ]

  for (const [line, reason] of v1Bad) {
    it(`v1: ${JSON.stringify(line)}`, () => {
      expect(reasonFor(bytesOf(line))).toMatch(reason)
    })
  }

  it("v1: a line is refused as soon as what is there cannot begin a header", () => {
    expect(reasonFor(bytesOf("PROXY X"))).toMatch(/protocol "X"/)
    expect(reasonFor(bytesOf("PROXY TCP4 192.0.2.x"))).toMatch(/source address/)
    expect(reasonFor(bytesOf("PROXY TCP4 1.2.3.4 ::1"))).toMatch(/destination address "::1"/)
    expect(reasonFor(bytesOf("PROXY UNKNOWN\r\r"))).toMatch(/protocol "UNKNOWN\\x0d"/)
    expect(parseHeader(bytesOf("PROXY TCP4 192.0.2.7 "))).toEqual({ _tag: "Incomplete" })
  })

  it("v1: a field is refused once a space ends it, a line once its CR is in", () => {
    expect(parseHeader(bytesOf("PROXY TCP4 192.0.2"))).toEqual({ _tag: "Incomplete" })
    expect(reasonFor(bytesOf("PROXY TCP4 192.0.2 "))).toMatch(/source address "192.0.2"/)
    expect(reasonFor(bytesOf("PROXY TCP4 192.0.2.7 198.51.100.1 70000"))).toMatch(/source port "70000"/)
    expect(parseHeader(bytesOf("PROXY TCP4 192.0.2.7 198.51.100.1 0"))).toEqual({ _tag: "Incomplete" })
    expect(reasonFor(bytesOf("PROXY TCP4 192.0.2.7 198.51.100.1 00"))).toMatch(/source port "00"/)
    expect(parseHeader(bytesOf("PROXY TCP4 192.0.2.7 198.51.100.1 1 2"))).toEqual({ _tag: "Incomplete" })
    expect(reasonFor(bytesOf("PROXY TCP4 192.0.2.7 198.51.100.1 1\r"))).toMatch(/3 fields/)
    expect(reasonFor(bytesOf("PROXY TCP6 ::1 ::1 1 2 "))).toMatch(/more than 4 fields/)
  })

  it("v2: a version other than 2, as soon as its byte is in", () => {
    for (const versionCommand of [0x01, 0x11, 0x31, 0xf1]) {
      expect(reasonFor(concat(v2Signature, [versionCommand]))).toBe(
        `v2 header of version ${versionCommand >> 4}, not 2`
      )
    }
  })

  it("v2: a command other than LOCAL and PROXY", () => {
    for (const command of [2, 3, 0xf]) {
      expect(reasonFor(concat(v2Signature, [0x20 | command]))).toBe(
        `v2 command ${command} is neither LOCAL (0) nor PROXY (1)`
      )
    }
  })

  it("v2 PROXY: a family and protocol the spec does not list", () => {
    for (const family of [0x01, 0x02, 0x10, 0x13, 0x20, 0x23, 0x30, 0x33, 0x41, 0xff]) {
      expect(reasonFor(concat(v2Signature, [0x21, family]))).toBe(
        `v2 address family and protocol 0x${family.toString(16).padStart(2, "0")} unknown`
      )
    }
  })

  it("v2 LOCAL: any family is taken, the block is skipped", () => {
    expect(parseHeader(v2(0x20, 0xff, [1, 2, 3]))).toEqual(completeWith({ _tag: "Local", version: 2 }, 19))
  })

  it("v2: an address length too short for the family", () => {
    expect(reasonFor(v2(0x21, 0x11, tcp4Block.slice(0, 11)))).toBe(
      "v2 address length 11 too short for TCP over IPv4 (12)"
    )
    expect(reasonFor(v2(0x21, 0x21, tcp4Block))).toBe("v2 address length 12 too short for TCP over IPv6 (36)")
    expect(reasonFor(v2(0x21, 0x31, []))).toBe("v2 address length 0 too short for UNIX stream (216)")
    // As soon as the length is in, not when the block is.
    expect(reasonFor(concat(v2Signature, [0x21, 0x21, ...u16(35)]))).toMatch(/too short/)
  })

  it("v2: a declared length over the bound, as soon as the fixed part is in", () => {
    expect(reasonFor(concat(v2Signature, [0x21, 0x11, ...u16(maxV2Length - 15)]))).toBe(
      `v2 header of ${maxV2Length + 1} bytes, more than the ${maxV2Length} taken`
    )
    expect(reasonFor(concat(v2Signature, [0x20, 0x00, 0xff, 0xff]))).toMatch(/more than/)
  })

  it("v2: a truncated header is Incomplete, however long the wait", () => {
    const header = v2(0x21, 0x21, [...tcp6Block, ...tlvs])
    expect(parseHeader(header.subarray(0, header.length - 1))).toEqual({ _tag: "Incomplete" })
    expect(parseHeader(header.subarray(0, 16 + 36))).toEqual({ _tag: "Incomplete" })
  })
})

// ---------------------------------------------------------------------------------------
// Properties

const bound = (bytes: Uint8Array) => (bytes[0] === 0x50 ? maxV1Length : maxV2Length)

/** What any input must give: one of the three, and a Complete header within the input and the bound. */
const expectWellFormed = (bytes: Uint8Array, result: ParseResult) => {
  expect(["Incomplete", "Invalid", "Complete"]).toContain(result._tag)
  if (result._tag === "Invalid") expect(result.reason.length).toBeGreaterThan(0)
  if (result._tag === "Complete") {
    expect(result.length).toBeLessThanOrEqual(bytes.length)
    expect(result.length).toBeLessThanOrEqual(bound(bytes))
  }
}

const bytesArb = (maxLength: number) => FastCheck.uint8Array({ maxLength })

/** Random bytes, and random bytes after the start of either header, where there is more to get wrong. */
const noiseArb: FastCheck.Arbitrary<Uint8Array> = FastCheck.oneof(
  bytesArb(300),
  bytesArb(120).map((rest) => concat(bytesOf("PROXY "), rest)),
  FastCheck.tuple(FastCheck.constantFrom("TCP4 ", "TCP6 ", "UNKNOWN"), bytesArb(120)).map(([protocol, rest]) =>
    concat(bytesOf(`PROXY ${protocol}`), rest)
  ),
  FastCheck.tuple(FastCheck.constantFrom(0x20, 0x21), FastCheck.constantFrom(0x00, 0x11, 0x21, 0x31), bytesArb(300))
    .map(([versionCommand, family, rest]) => concat(v2Signature, [versionCommand, family], rest)),
  bytesArb(300).map((rest) => concat(v2Signature, rest))
)

const versionArb = FastCheck.constantFrom("v1" as const, "v2" as const)
/** A valid header: the encoder's, or one of the examples (TLVs, LOCAL, UNIX and the rest). */
const validArb: FastCheck.Arbitrary<Uint8Array> = FastCheck.oneof(
  FastCheck.tuple(versionArb, FastCheck.option(originArb, { nil: undefined })).map(([version, origin]) =>
    encodeHeader(version, origin)
  ),
  FastCheck.constantFrom(...examples.map((e) => e.bytes))
)

describe("parseHeader: properties", () => {
  it.prop("any bytes: never throws, one of the three results, Complete within bounds", [noiseArb], ([bytes]) => {
    expectWellFormed(bytes, parseHeader(bytes))
  }, { fastCheck: { numRuns: 2000 } })

  it.prop("a valid header fed in any two pieces: Incomplete until it is all in, then the same Complete", [
    validArb,
    bytesArb(40)
  ], ([header, data]) => {
    const stream = concat(header, data)
    const whole = parseHeader(stream)
    expect(whole._tag).toBe("Complete")
    if (whole._tag !== "Complete") return
    expect(whole.length).toBe(header.length)
    for (let n = 0; n <= stream.length; n++) {
      const result = parseHeader(stream.subarray(0, n))
      if (n < header.length) expect(result, `${n} bytes`).toEqual({ _tag: "Incomplete" })
      else expect(result, `${n} bytes`).toEqual(whole)
    }
  }, { fastCheck: { numRuns: 300 } })

  it.prop("a valid header with one byte changed: never throws, well-formed", [
    validArb,
    FastCheck.nat(),
    FastCheck.integer({ min: 0, max: 255 }),
    bytesArb(20)
  ], ([header, at, value, data]) => {
    const changed = concat(header, data)
    changed[at % header.length] = value
    for (let n = 0; n <= changed.length; n++) {
      const prefix = changed.subarray(0, n)
      expectWellFormed(prefix, parseHeader(prefix))
    }
  }, { fastCheck: { numRuns: 1000 } })

  it.prop("a prefix is never refused when a longer input is taken", [noiseArb], ([bytes]) => {
    // Refusing early must never refuse what more bytes would make a header.
    const last = parseHeader(bytes)
    if (last._tag === "Invalid") return
    for (let n = 0; n < bytes.length; n++) {
      expect(parseHeader(bytes.subarray(0, n))._tag, `${n} bytes`).not.toBe("Invalid")
    }
  }, { fastCheck: { numRuns: 500 } })
})

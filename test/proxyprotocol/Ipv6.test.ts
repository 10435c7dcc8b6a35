import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as net from "node:net"
import { ipv6Bytes, ipv6Text } from "../../src/Proxy/ProxyProtocol/Header.js"
import { fullIPv6, ipv6BytesArb, nodeIPv6 } from "./Headers.js"

describe("IPv6 addresses as headers carry them", () => {
  it.prop("ipv6Text: node's own text (what socket.remoteAddress shows), valid IPv6", [ipv6BytesArb], ([bytes]) => {
    const text = ipv6Text(bytes)
    expect(text).toBe(nodeIPv6(fullIPv6(bytes)))
    expect(net.isIPv6(text)).toBe(true)
  }, { fastCheck: { numRuns: 3000 } })

  it.prop("ipv6Bytes reads back what ipv6Text and node write, long or short", [ipv6BytesArb], ([bytes]) => {
    expect(ipv6Bytes(ipv6Text(bytes))).toEqual(bytes)
    expect(ipv6Bytes(fullIPv6(bytes))).toEqual(bytes)
  }, { fastCheck: { numRuns: 1000 } })

  it.prop("any string: ipv6Bytes never throws, and takes only what isIPv6 takes", [
    FastCheck.oneof(FastCheck.string(), FastCheck.ipV6(), FastCheck.stringMatching(/^[0-9a-f:.%]{0,50}$/))
  ], ([text]) => {
    const bytes = ipv6Bytes(text)
    if (bytes !== undefined) {
      expect(net.isIPv6(text)).toBe(true)
      expect(bytes.length).toBe(16)
      expect(ipv6Text(bytes)).toBe(nodeIPv6(text))
    } else expect(net.isIPv6(text) && !text.includes("%")).toBe(false)
  }, { fastCheck: { numRuns: 2000 } })

  it("the edge cases of compression, as node writes them", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["0:0:0:0:0:0:0:0", "::"],
      ["0:0:0:0:0:0:0:1", "::1"],
      ["0:0:0:0:0:0:0:2", "::2"],
      ["0:0:0:0:0:0:102:304", "::1.2.3.4"],
      ["0:0:0:0:0:ffff:102:304", "::ffff:1.2.3.4"],
      ["0:0:0:0:0:ffff:0:0", "::ffff:0.0.0.0"],
      ["0:0:0:0:0:fffe:102:304", "::fffe:102:304"],
      ["1:0:0:1:0:0:0:1", "1:0:0:1::1"],
      ["1:0:0:0:1:0:0:1", "1::1:0:0:1"],
      ["0:1:0:0:0:0:0:0", "0:1::"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["64:ff9b:0:0:0:0:102:304", "64:ff9b::102:304"]
    ]
    for (const [long, short] of cases) {
      expect(ipv6Text(ipv6Bytes(long) ?? new Uint8Array(16)), long).toBe(short)
      expect(nodeIPv6(long), long).toBe(short)
    }
  })
})

import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import type { ListenAddress } from "../src/Proxy/Settings/Endpoint.js"
import { formatEndpoint, parseEndpoint, parseEndpointList, parseListenAddress } from "../src/Proxy/Settings/Endpoint.js"

const leftOf = <A>(result: Either.Either<A, string>): string => {
  if (Either.isRight(result)) throw new Error(`expected an error, got ${JSON.stringify(result.right)}`)
  return result.left
}

describe("parseEndpoint", () => {
  it.each([
    { text: "127.0.0.1:8080", host: "127.0.0.1", port: 8080 },
    { text: "localhost:8081", host: "localhost", port: 8081 },
    { text: "my-host.example.com:1", host: "my-host.example.com", port: 1 },
    { text: "[::1]:8000", host: "::1", port: 8000 },
    { text: "[2001:db8::1]:443", host: "2001:db8::1", port: 443 },
    { text: "host:65535", host: "host", port: 65535 },
    { text: "  localhost:80  ", host: "localhost", port: 80 }
  ])("reads $text", ({ host, port, text }) => {
    expect(Either.getOrThrow(parseEndpoint(text))).toStrictEqual({ host, port })
  })

  it.each([
    { text: "", reason: "expected HOST:PORT" },
    { text: "host", reason: "expected HOST:PORT" },
    { text: "host:", reason: "expected HOST:PORT" },
    { text: ":80", reason: "expected HOST:PORT" },
    { text: "host:0", reason: "out of range (1-65535)" },
    { text: "host:65536", reason: "out of range (1-65535)" },
    { text: "host:http", reason: `port "http" is not a number` },
    { text: "host:-1", reason: "is not a number" },
    { text: "::1:80", reason: "[::1]:PORT" },
    { text: "bad_host!:80", reason: `"bad_host!" is not a host name or IP address` },
    { text: "-host:80", reason: "is not a host name" },
    { text: "a..b:80", reason: "is not a host name" },
    { text: "[1.2.3.4]:80", reason: `"1.2.3.4" is not an IPv6 address` }
  ])("rejects $text", ({ reason, text }) => {
    expect(leftOf(parseEndpoint(text))).toContain(reason)
  })
})

describe("parseEndpointList", () => {
  it("reads the comma-separated SOCKET_PROXY_DESTINATIONS format, spaces allowed", () => {
    expect(Either.getOrThrow(parseEndpointList("127.0.0.1:8080, localhost:8081"))).toStrictEqual([
      { host: "127.0.0.1", port: 8080 },
      { host: "localhost", port: 8081 }
    ])
  })

  it("reads a single endpoint and keeps the given order", () => {
    expect(Either.getOrThrow(parseEndpointList("b:2"))).toStrictEqual([{ host: "b", port: 2 }])
    expect(Either.getOrThrow(parseEndpointList("b:2,a:1,[::1]:3"))).toStrictEqual([
      { host: "b", port: 2 },
      { host: "a", port: 1 },
      { host: "::1", port: 3 }
    ])
  })

  it.each(["a:1,", "a:1, ", ",a:1", " , a:1 ,, "])("ignores empty items in %j", (text) => {
    expect(Either.getOrThrow(parseEndpointList(text))).toStrictEqual([{ host: "a", port: 1 }])
  })

  it("returns an empty list for empty text (the caller decides it is missing)", () => {
    expect(Either.getOrThrow(parseEndpointList(""))).toStrictEqual([])
    expect(Either.getOrThrow(parseEndpointList(" , "))).toStrictEqual([])
  })

  it("names the bad item in a list", () => {
    const reason = leftOf(parseEndpointList("127.0.0.1:8080, bad_host!:80, localhost:8081"))
    expect(reason).toMatch(/^"bad_host!:80": /)
    expect(reason).toContain("is not a host name")
    expect(leftOf(parseEndpointList("a:1,b:0"))).toMatch(/^"b:0": port 0 is out of range/)
  })

  it("reports a lone bad item as parseEndpoint does", () => {
    expect(leftOf(parseEndpointList("host:http"))).toBe(leftOf(parseEndpoint("host:http")))
    expect(leftOf(parseEndpointList("host:http,"))).toBe(leftOf(parseEndpoint("host:http")))
  })
})

describe("parseListenAddress", () => {
  it.each<{ text: string; address: ListenAddress }>([
    { text: "8000", address: { port: 8000 } },
    { text: " 8000 ", address: { port: 8000 } },
    { text: "0", address: { port: 0 } },
    { text: "65535", address: { port: 65535 } },
    { text: "127.0.0.1:8000", address: { host: "127.0.0.1", port: 8000 } },
    { text: "localhost:0", address: { host: "localhost", port: 0 } },
    { text: "[::1]:0", address: { host: "::1", port: 0 } },
    { text: "[::]:8000", address: { host: "::", port: 8000 } }
  ])("reads $text", ({ address, text }) => {
    expect(Either.getOrThrow(parseListenAddress(text))).toStrictEqual(address)
  })

  it("binds every interface when no host is given", () => {
    expect(Either.getOrThrow(parseListenAddress("8000")).host).toBeUndefined()
  })

  it.each([
    { text: "99999", reason: "out of range (0-65535)" },
    { text: "65536", reason: "out of range (0-65535)" },
    { text: "127.0.0.1:99999", reason: "out of range (0-65535)" },
    { text: "abc", reason: "expected PORT (every interface) or HOST:PORT" },
    { text: "", reason: "expected PORT (every interface) or HOST:PORT" },
    { text: "-1", reason: "expected PORT (every interface) or HOST:PORT" },
    { text: ":8000", reason: "expected PORT (every interface) or HOST:PORT" },
    { text: "host:port", reason: "is not a number" },
    { text: "::1:8000", reason: "[::1]:PORT" }
  ])("rejects $text", ({ reason, text }) => {
    expect(leftOf(parseListenAddress(text))).toContain(reason)
  })
})

describe("formatEndpoint", () => {
  it.each<{ address: ListenAddress; text: string }>([
    { address: { port: 8000 }, text: "*:8000" },
    { address: { host: "127.0.0.1", port: 80 }, text: "127.0.0.1:80" },
    { address: { host: "localhost", port: 8081 }, text: "localhost:8081" },
    { address: { host: "::1", port: 8000 }, text: "[::1]:8000" },
    { address: { host: "2001:db8::1", port: 443 }, text: "[2001:db8::1]:443" }
  ])("formats $text", ({ address, text }) => {
    expect(formatEndpoint(address)).toBe(text)
  })

  it.each(["127.0.0.1:8080", "localhost:8081", "my-host.example.com:1", "[::1]:8000", "[fe80::1]:65535"])(
    "formats %s so that it parses back",
    (text) => {
      const endpoint = Either.getOrThrow(parseEndpoint(text))
      expect(formatEndpoint(endpoint)).toBe(text)
      expect(Either.getOrThrow(parseEndpoint(formatEndpoint(endpoint)))).toStrictEqual(endpoint)
    }
  )
})

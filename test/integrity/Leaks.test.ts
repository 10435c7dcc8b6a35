import { describe, expect, it } from "@effect/vitest"
import { leaksIn } from "../../soak/Leaks.js"
import { parseScrape } from "../../soak/Metrics.js"

const scrape = (open: number, perDestination: number, fibers: number) =>
  parseScrape([
    `socket_proxy_connections_open{route="default"} ${open}`,
    `socket_proxy_destination_connections_open{destination="127.0.0.1:9001",route="default"} ${perDestination}`,
    `socket_proxy_destination_connections_open{destination="127.0.0.1:9002",route="default"} ${perDestination}`,
    `socket_proxy_fibers_active ${fibers}`
  ].join("\n"))

const expectation = {
  pid: 42,
  baselineSockets: 9,
  destinations: ["127.0.0.1:9001", "127.0.0.1:9002"],
  removed: [],
  fibersAllowed: 200
}

describe("leaksIn", () => {
  it("finds nothing when sockets, connections and fibers match the sources", () => {
    expect(leaksIn({ sockets: 9 + 10 + 20, scrape: scrape(10, 10, 150), sources: 10 }, expectation)).toEqual([])
  })

  it("names leaked sockets", () => {
    expect(leaksIn({ sockets: 9 + 10 + 20 + 3, scrape: scrape(10, 10, 150), sources: 10 }, expectation)).toEqual([
      "the proxy holds 42 sockets (/proc/42/fd), expected 39 = baseline 9 + 10 sources + 20 destination connections: 3 socket(s) leaked"
    ])
  })

  it("names leaked source connections, destination connections and fibers", () => {
    expect(leaksIn({ sockets: 9 + 12 + 26, scrape: scrape(12, 13, 201), sources: 10 }, expectation)).toEqual([
      "socket_proxy_connections_open is 12 but 10 sources are connected: 2 source connection(s) leaked",
      "destination 127.0.0.1:9001 has 13 connections open for 12 sources",
      "destination 127.0.0.1:9002 has 13 connections open for 12 sources",
      "socket_proxy_fibers_active is 201, more than the 200 that 12 connections need: fibers leaked"
    ])
  })

  it("names connections still open to a destination a reload removed", () => {
    const removedOne = { ...expectation, destinations: ["127.0.0.1:9001"], removed: ["127.0.0.1:9002"] }
    expect(leaksIn({ sockets: 9 + 10 + 10, scrape: scrape(10, 10, 150), sources: 10 }, removedOne)).toEqual([
      "destination 127.0.0.1:9002, which a reload removed, still has 10 connections open"
    ])
    const flushed = parseScrape([
      `socket_proxy_connections_open{route="default"} 10`,
      `socket_proxy_destination_connections_open{destination="127.0.0.1:9001",route="default"} 10`,
      `socket_proxy_destination_connections_open{destination="127.0.0.1:9002",route="default"} 0`
    ].join("\n"))
    expect(leaksIn({ sockets: 9 + 10 + 10, scrape: flushed, sources: 10 }, removedOne)).toEqual([])
  })
})

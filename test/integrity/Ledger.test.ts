import { describe, expect, it } from "@effect/vitest"
import type { DestinationSegment, LedgerInput, ProxyClose } from "../../soak/Ledger.js"
import { checkLedger } from "../../soak/Ledger.js"

const source = { sourceId: 1, connectedAt: 1_000, cleanlyEndedAfter: 1000 }

const close = (links: ProxyClose["links"], bytesIn = 1000): ProxyClose => ({
  sourceId: 1,
  peer: "127.0.0.1:5000",
  bytesIn,
  links
})

const segment = (connection: number, firstOffset: number, endOffset: number, faulted = false): DestinationSegment => ({
  destination: 0,
  generation: 1,
  connection,
  sourceId: 1,
  firstOffset,
  endOffset,
  bytes: endOffset - firstOffset,
  records: 1,
  violation: undefined,
  faulted
})

/** Destination 0's link, given the whole stream of 1000 bytes unless said. */
const link = (delivered: number, dropped: number, buffered: number, from = 0, received = 1000) => ({
  destination: 0,
  from,
  received,
  delivered,
  dropped,
  buffered
})

const input = (overrides: Partial<LedgerInput>): LedgerInput => ({
  sources: [source],
  closes: [close([link(1000, 0, 0)])],
  segments: [segment(1, 0, 1000)],
  generations: [{ destination: 0, generation: 1, killedAt: undefined }],
  destinations: 1,
  ...overrides
})

describe("checkLedger", () => {
  it("passes a link delivered whole, and counts it as checked byte-exact", () => {
    const result = checkLedger(input({}))
    expect(result.violations).toEqual([])
    expect(result).toMatchObject({ linksChecked: 1, linksExact: 1, bytesReceived: 1000, bytesDelivered: 1000 })
  })

  it("names unbalanced counters", () => {
    const result = checkLedger(
      input({ closes: [close([link(900, 0, 0)])] })
    )
    expect(result.violations).toContain(
      "unbalanced byte accounting for source 1 to destination 0: given 1000 ≠ delivered 900 + dropped 0 + buffered 0"
    )
  })

  it("names bytes still buffered at close", () => {
    const result = checkLedger(
      input({ closes: [close([link(900, 0, 100)])] })
    )
    expect(result.violations).toContain("source 1 closed with 100 bytes still buffered for destination 0")
  })

  it("names a source the proxy did not read whole", () => {
    const result = checkLedger(input({ sources: [{ ...source, cleanlyEndedAfter: 1200 }] }))
    expect(result.violations).toContain("the proxy received 1000 bytes of source 1, which sent 1200 and closed cleanly")
  })

  it("names missing first bytes the proxy did not report dropping", () => {
    const result = checkLedger(input({ segments: [segment(1, 16, 1000)] }))
    expect(result.violations).toContain(
      "destination 0 missed 16 bytes of source 1 (stream offsets 0..16) but the proxy reported 0 dropped for it"
    )
  })

  it("accepts a gap between connections that the proxy reported as dropped", () => {
    const result = checkLedger(input({
      closes: [close([link(700, 300, 0)])],
      segments: [segment(1, 0, 400), segment(2, 700, 1000)]
    }))
    expect(result.violations).toEqual([])
    expect(result.linksExact).toBe(0)
  })

  it("excuses a gap after a connection the destination itself broke", () => {
    const result = checkLedger(input({ segments: [segment(1, 0, 400, true), segment(2, 700, 1000)] }))
    expect(result.violations).toEqual([])
  })

  it("excuses the start of a destination restarted while the source was sending", () => {
    const result = checkLedger(input({
      segments: [{ ...segment(1, 300, 1000), generation: 2 }],
      generations: [
        { destination: 0, generation: 1, killedAt: 2_000 },
        { destination: 0, generation: 2, killedAt: undefined }
      ]
    }))
    expect(result.violations).toEqual([])
  })

  it("names bytes delivered twice", () => {
    const result = checkLedger(input({ segments: [segment(1, 0, 600), segment(2, 500, 1000)] }))
    expect(result.violations).toContain(
      "duplicated bytes: destination 0 received stream bytes 500..600 of source 1 twice (connection 2 repeats an earlier one)"
    )
  })

  it("names a destination that never got a connection for a source", () => {
    const result = checkLedger(input({ segments: [] }))
    expect(result.violations).toContain(
      "destination 0 missed 1000 bytes of source 1 (stream offsets 0..1000) but the proxy reported 0 dropped for it"
    )
  })

  it("names bytes the proxy counted as delivered that never arrived", () => {
    const short = checkLedger(
      input({ sources: [{ ...source, cleanlyEndedAfter: undefined }], segments: [segment(1, 0, 990)] })
    )
    expect(short.violations).toContain(
      "destination 0 missed 10 bytes of source 1 (stream offsets 990..1000) but the proxy reported 0 dropped for it"
    )
    expect(short.violations).toContain(
      "destination 0 received 990 bytes of source 1 but the proxy reported 1000 delivered and nothing dropped"
    )
  })

  it("owes a destination a reload added mid-stream only what followed", () => {
    const added = checkLedger(
      input({ closes: [close([link(600, 0, 0, 400, 600)])], segments: [segment(1, 400, 1000)] })
    )
    expect(added.violations).toEqual([])
    expect(added.linksExact).toBe(1)
    const late = checkLedger(input({ closes: [close([link(600, 0, 0, 400, 600)])], segments: [segment(1, 450, 1000)] }))
    expect(late.violations).toContain(
      "destination 0 missed 50 bytes of source 1 (stream offsets 400..450) but the proxy reported 0 dropped for it"
    )
  })

  it("owes a destination removed and added again only what its two links were given", () => {
    const result = checkLedger(input({
      closes: [close([link(300, 0, 0, 0, 300), link(400, 0, 0, 600, 400)])],
      segments: [segment(1, 0, 300), segment(2, 600, 1000)]
    }))
    expect(result.violations).toEqual([])
    expect(result.linksChecked).toBe(1)
    const missed = checkLedger(input({
      closes: [close([link(300, 0, 0, 0, 300), link(400, 0, 0, 600, 400)])],
      segments: [segment(1, 0, 200), segment(2, 600, 1000)]
    }))
    expect(missed.violations[0]).toMatch(/destination 0 missed 100 bytes of source 1 \(stream offsets 200\.\.300\)/)
  })

  it("names a link given bytes past the source's stream", () => {
    const result = checkLedger(
      input({ closes: [close([link(600, 0, 0, 500, 600)])], segments: [segment(1, 500, 1100)] })
    )
    expect(result.violations).toContain(
      "source 1's link to destination 0 was given stream bytes 500..1100, past the 1000 the proxy received"
    )
  })
})

import { describe, expect, it } from "@effect/vitest"
import { headerBytes, RecordWriter, StreamChecker } from "../support/Records.js"

/** `count` records of source `id`, concatenated: a source connection's stream. */
const stream = (id: number, count: number): { readonly bytes: Buffer; readonly records: ReadonlyArray<Buffer> } => {
  const writer = new RecordWriter(id)
  const records = Array.from({ length: count }, (_, i) => writer.next((i * 37) % 300))
  return { bytes: Buffer.concat(records), records }
}

/** Feeds `bytes` in chunks of varying size, as TCP would. */
const feed = (checker: StreamChecker, bytes: Buffer): StreamChecker => {
  let at = 0
  let size = 1
  while (at < bytes.length) {
    checker.push(bytes.subarray(at, at + size))
    at += size
    size = (size * 7 + 3) % 997 + 1
  }
  return checker
}

describe("StreamChecker", () => {
  it("accepts a whole stream, however it is chunked, and locates it in the source's stream", () => {
    const { bytes } = stream(7, 200)
    const segment = feed(new StreamChecker("c1"), bytes).segment()
    expect(segment).toEqual({
      sourceId: 7,
      firstOffset: 0,
      endOffset: bytes.length,
      bytes: bytes.length,
      records: 200,
      violation: undefined
    })
  })

  it("finds its place when a connection starts (and ends) in the middle of a record", () => {
    const { bytes } = stream(7, 50)
    const from = 1234
    const to = bytes.length - 10
    const segment = feed(new StreamChecker("c2"), bytes.subarray(from, to)).segment()
    expect(segment.violation).toBeUndefined()
    expect(segment.sourceId).toBe(7)
    expect(segment.firstOffset).toBe(from)
    expect(segment.endOffset).toBe(to)
  })

  it("names an altered byte", () => {
    const { bytes } = stream(7, 50)
    const altered = Buffer.from(bytes)
    altered[2000] = altered[2000]! ^ 0x20
    expect(feed(new StreamChecker("c3"), altered).violation).toMatch(/^c3: bytes altered/)
  })

  it("names a duplicated record", () => {
    const { records } = stream(7, 20)
    const duplicated = Buffer.concat([...records.slice(0, 10), records[9]!, ...records.slice(10)])
    expect(feed(new StreamChecker("c4"), duplicated).violation).toMatch(
      /duplicated or reordered bytes .* got record seq 9/
    )
  })

  it("names reordered records", () => {
    const { records } = stream(7, 20)
    const reordered = Buffer.concat([...records.slice(0, 5), records[6]!, records[5]!, ...records.slice(7)])
    expect(feed(new StreamChecker("c5"), reordered).violation).toMatch(
      /a gap inside one connection .*expected record seq 5.*got record seq 6/
    )
  })

  it("names a gap inside one connection", () => {
    const { bytes, records } = stream(7, 20)
    const cut = records.slice(0, 5).reduce((sum, r) => sum + r.length, 0)
    const gapped = Buffer.concat([bytes.subarray(0, cut), bytes.subarray(cut + 100)])
    expect(feed(new StreamChecker("c6"), gapped).violation).toMatch(/bytes altered, or a gap inside one connection/)
  })

  it("names bytes of another source inside a connection", () => {
    const mixed = Buffer.concat([stream(7, 3).bytes, stream(8, 3).records[0]!])
    expect(feed(new StreamChecker("c7"), mixed).violation).toMatch(
      /bytes of source 8 inside a connection carrying source 7/
    )
  })

  it("names bytes that are not records at all", () => {
    const garbage = Buffer.alloc(10_000, 0x41)
    expect(feed(new StreamChecker("c8"), garbage).violation).toMatch(/no valid record in the first \d+ bytes/)
  })

  it("does not judge a connection too short to hold a whole record", () => {
    const { bytes } = stream(7, 2)
    const segment = feed(new StreamChecker("c9"), bytes.subarray(5, 5 + headerBytes)).segment()
    expect(segment).toMatchObject({ sourceId: undefined, bytes: headerBytes, violation: undefined })
  })
})

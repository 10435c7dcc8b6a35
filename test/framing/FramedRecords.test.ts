import { describe, expect, it } from "@effect/vitest"
import { RecordWriter, StreamChecker } from "../support/Records.js"

/** A framed source connection's first `count` records. */
const framedStream = (count: number) => {
  const writer = new RecordWriter(7, true)
  return Buffer.concat(Array.from({ length: count }, (_, i) => writer.next((i * 37) % 300)))
}

const check = (bytes: Buffer) => {
  const checker = new StreamChecker("c", true)
  for (let at = 0; at < bytes.length; at += 100) checker.push(bytes.subarray(at, at + 100))
  return checker.segment()
}

describe("the soak's records with --framing u32be", () => {
  it("a connection of whole records is clean, from offset 0 to the end", () => {
    const bytes = framedStream(50)
    const segment = check(bytes)
    expect(segment).toMatchObject({
      violation: undefined,
      records: 50,
      endOffset: bytes.length,
      endsInsideRecord: false
    })
    expect(bytes.readUInt32BE(0)).toBe(bytes.length === 0 ? 0 : 28)
  })

  it("a connection that starts inside a record is a violation; one that ends inside one says so", () => {
    const bytes = framedStream(50)
    expect(check(bytes.subarray(3)).violation).toMatch(/does not start at a record/)
    const cut = check(bytes.subarray(0, bytes.length - 5))
    expect(cut.violation).toBeUndefined()
    expect(cut.endsInsideRecord).toBe(true)
    expect(cut.records).toBe(49)
  })
})

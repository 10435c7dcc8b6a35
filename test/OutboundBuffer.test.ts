import { describe, expect, it } from "@effect/vitest"
import { OutboundBuffer } from "../src/Proxy/DataPath/OutboundBuffer.js"
import { pattern } from "./support/Peers.js"

const concat = (chunks: ReadonlyArray<Uint8Array>) => Buffer.concat(chunks.map((c) => Buffer.from(c)))

describe("OutboundBuffer", () => {
  it("appends whole chunks while connected and says when it is full", () => {
    const buffer = new OutboundBuffer(10)
    buffer.append(Buffer.from("01234"))
    expect(buffer.full).toBe(false)
    buffer.append(Buffer.from("56789abc"))
    expect(buffer.full).toBe(true)
    expect(buffer.room).toBe(0)
    expect(concat(buffer.takeForWrite(1024)).toString()).toBe("0123456789abc")
    expect([buffer.queuedBytes, buffer.inFlightBytes, buffer.room]).toEqual([0, 13, 0])
    expect(buffer.settleWrite()).toBe(13)
    expect(buffer.room).toBe(10)
  })

  it("while down keeps exactly the newest bytes, contiguous, and counts what it evicts", () => {
    const buffer = new OutboundBuffer(1000)
    const sent = pattern(50_000, 4)
    let evicted = 0
    // Odd sizes, tiny and large, so eviction cuts through copied blocks and whole chunks alike.
    const sizes = [1, 7, 300, 4095, 4096, 5000, 2, 999, 1001, 13]
    for (let offset = 0, i = 0; offset < sent.length; i++) {
      const size = Math.min(sizes[i % sizes.length]!, sent.length - offset)
      evicted += buffer.appendEvictingOldest(sent.subarray(offset, offset + size))
      offset += size
      const held = concat(buffer.takeForWrite(Number.MAX_SAFE_INTEGER))
      buffer.abandonWrite()
      // Put it back the way it was, to check the queue without draining it for good.
      buffer.appendEvictingOldest(held)
      expect(held.equals(sent.subarray(offset - held.length, offset))).toBe(true)
      expect(held.length).toBe(Math.min(1000, offset))
    }
    expect(evicted).toBe(sent.length - 1000)
  })

  it("hands out bounded batches, oldest first, and never writes into a block it handed out", () => {
    const buffer = new OutboundBuffer(1 << 20)
    const sent = pattern(200_000, 8)
    for (let offset = 0; offset < sent.length; offset += 100) buffer.append(sent.subarray(offset, offset + 100))
    const first = buffer.takeForWrite(64 * 1024)
    const firstBytes = concat(first)
    expect(firstBytes.length).toBeLessThanOrEqual(64 * 1024)
    expect(firstBytes.length).toBeGreaterThan(0)
    // More small appends after a partial take must not change what was taken.
    buffer.append(Buffer.from("tail"))
    expect(concat(first).equals(firstBytes)).toBe(true)
    const rest = concat(buffer.takeForWrite(Number.MAX_SAFE_INTEGER))
    expect(Buffer.concat([firstBytes, rest]).equals(Buffer.concat([sent, Buffer.from("tail")]))).toBe(true)
    expect(buffer.queuedBytes).toBe(0)
    expect(buffer.inFlightBytes).toBe(sent.length + 4)
  })

  it("keeps the newest bytes of a chunk larger than the whole buffer", () => {
    const buffer = new OutboundBuffer(100)
    buffer.appendEvictingOldest(Buffer.from("x".repeat(50)))
    const big = pattern(1000, 2)
    expect(buffer.appendEvictingOldest(big)).toBe(950)
    expect(concat(buffer.takeForWrite(1 << 20)).equals(big.subarray(900))).toBe(true)
  })

  it("counts in-flight bytes against capacity and discards what is queued on request", () => {
    const buffer = new OutboundBuffer(100)
    buffer.append(pattern(60))
    buffer.takeForWrite(1000)
    expect(buffer.appendEvictingOldest(pattern(70))).toBe(30)
    expect(buffer.heldBytes).toBe(100)
    expect(buffer.discardQueued()).toBe(40)
    expect(buffer.abandonWrite()).toBe(60)
    expect(buffer.heldBytes).toBe(0)
  })
})

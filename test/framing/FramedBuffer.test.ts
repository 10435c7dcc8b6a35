import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import type { MessageFraming } from "../../src/Proxy/Framing/Framing.js"
import { initialState, scan } from "../../src/Proxy/Framing/Scan.js"
import { OutboundBuffer } from "../../src/Proxy/DataPath/OutboundBuffer.js"
import { encode, splitMessages } from "./Messages.js"

const framings: ReadonlyArray<MessageFraming> = ["lines", "u16be", "u32be"]

/** A buffer with its message counts, fed a stream cut into chunks as a source's reads would be. */
const framedBuffer = (framing: MessageFraming, capacity: number) => {
  const buffer = new OutboundBuffer(capacity, framing)
  const counts = { delivered: 0, dropped: 0, droppedBytes: 0 }
  buffer.tally = {
    addDeliveredMessages: (n) => (counts.delivered += n),
    addDroppedMessages: (n) => (counts.dropped += n)
  }
  let state = initialState(framing)
  const chunksOf = (stream: Buffer, cuts: ReadonlyArray<number>) => {
    const points = [...new Set([0, ...cuts.map((c) => c % (stream.length + 1)), stream.length])].sort((a, b) => a - b)
    return points.slice(1).map((to, i) => {
      const chunk = stream.subarray(points[i]!, to)
      const result = scan(framing, 1 << 20, state, chunk)
      state = result.state
      return { chunk, firstStart: result.firstStart, ends: result.ends }
    })
  }
  const drain = () => {
    const bytes = Buffer.concat(buffer.takeForWrite(Number.MAX_SAFE_INTEGER))
    buffer.settleWrite()
    return bytes
  }
  return { buffer, counts, chunksOf, drain }
}

const sizes = FastCheck.array(FastCheck.integer({ min: 0, max: 2000 }), { minLength: 1, maxLength: 60 })
const cuts = FastCheck.array(FastCheck.nat(), { maxLength: 40 })

describe("a framed buffer", () => {
  for (const framing of framings) {
    it.prop(
      `${framing}: while down, it holds the newest whole messages that fit, and counts the rest`,
      [sizes, cuts, FastCheck.integer({ min: 1, max: 20_000 })],
      ([sizes, cuts, capacity]) => {
        const messages = sizes.map((size, n) => encode(framing, n, size))
        const stream = Buffer.concat(messages)
        const { buffer, chunksOf, counts, drain } = framedBuffer(framing, capacity)
        let droppedBytes = 0
        for (const { chunk, ends, firstStart } of chunksOf(stream, cuts)) {
          droppedBytes += buffer.appendMessagesEvictingOldest(chunk, firstStart, ends)
          expect(buffer.heldBytes).toBeLessThanOrEqual(capacity)
        }
        const held = drain()
        expect(held.length + droppedBytes).toBe(stream.length)
        // What is held is the newest messages, whole, from a message start.
        const split = splitMessages(framing, held)
        expect(split.rest).toBe(0)
        const kept = messages.slice(messages.length - split.messages.length)
        expect(Buffer.concat(kept).equals(held)).toBe(true)
        // As many as fit: the next older one would not have.
        const older = messages[messages.length - split.messages.length - 1]
        if (older !== undefined) expect(held.length + older.length).toBeGreaterThan(capacity)
        expect(counts.delivered).toBe(split.messages.length)
        expect(counts.delivered + counts.dropped).toBe(messages.length)
      }
    )

    it.prop(
      `${framing}: after a connection is lost, the next gets bytes from a message start`,
      [sizes, cuts, FastCheck.nat(), FastCheck.integer({ min: 1, max: 5000 })],
      ([sizes, cuts, lostAfter, writeSize]) => {
        const messages = sizes.map((size, n) => encode(framing, n, size))
        const stream = Buffer.concat(messages)
        const { buffer, chunksOf, counts } = framedBuffer(framing, 1 << 30)
        const chunks = chunksOf(stream, cuts)
        const lostAt = lostAfter % chunks.length
        let first = Buffer.alloc(0)
        let dropped = 0
        chunks.forEach(({ chunk, ends, firstStart }, i) => {
          if (i === lostAt) {
            // Some was written and delivered, some in flight is lost with the connection.
            dropped += buffer.abandonWrite()
            dropped += buffer.restartAtMessage()
          }
          dropped += buffer.appendMessages(chunk, firstStart, ends)
          if (i < lostAt) {
            first = Buffer.concat([first, ...buffer.takeForWrite(writeSize)])
            buffer.settleWrite()
            if (buffer.queuedBytes > 0) buffer.takeForWrite(writeSize)
          }
        })
        const second = Buffer.concat(buffer.takeForWrite(Number.MAX_SAFE_INTEGER))
        buffer.settleWrite()
        expect(first.length + dropped + second.length).toBe(stream.length)
        // The first connection's bytes are the stream's start; the second's are whole messages, the newest.
        expect(stream.subarray(0, first.length).equals(first)).toBe(true)
        const split = splitMessages(framing, second)
        expect(split.rest).toBe(0)
        expect(stream.subarray(stream.length - second.length).equals(second)).toBe(true)
        // A message counts as delivered once its last byte is; every other one as dropped.
        expect(counts.delivered).toBe(splitMessages(framing, first).messages.length + split.messages.length)
        expect(counts.delivered + counts.dropped).toBe(messages.length)
      }
    )
  }

  it("without a framing, it keeps no message bookkeeping (byte for byte as before)", () => {
    const buffer = new OutboundBuffer(10)
    expect(buffer.appendEvictingOldest(Buffer.from("0123456789abc"))).toBe(3)
    expect(Buffer.concat(buffer.takeForWrite(100)).toString()).toBe("3456789abc")
  })
})

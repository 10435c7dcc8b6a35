import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import type { MessageFraming } from "../../src/Proxy/Framing/Framing.js"
import { atBoundary, initialState, scan } from "../../src/Proxy/Framing/Scan.js"
import { seekStart } from "../../src/Proxy/Framing/Seek.js"
import { boundaries, encode } from "./Messages.js"

const framings: ReadonlyArray<MessageFraming> = ["lines", "u16be", "u32be"]
const max = 64 * 1024

/** Scans `stream` cut at `cuts`; per chunk, its first start and its ends, as the scanner says. */
const scanInChunks = (framing: MessageFraming, stream: Buffer, cuts: ReadonlyArray<number>) => {
  const points = [...new Set([0, ...cuts.map((c) => c % (stream.length + 1)), stream.length])].sort((a, b) => a - b)
  let state = initialState(framing)
  const chunks: Array<{ from: number; to: number; firstStart: number; ends: number }> = []
  for (let i = 0; i + 1 < points.length; i++) {
    const [from, to] = [points[i]!, points[i + 1]!]
    const result = scan(framing, max, state, stream.subarray(from, to))
    expect(result.tooLong).toBeUndefined()
    state = result.state
    chunks.push({ from, to, firstStart: result.firstStart, ends: result.ends })
  }
  return { chunks, state }
}

const sizes = FastCheck.array(FastCheck.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 40 })
const cuts = FastCheck.array(FastCheck.nat(), { maxLength: 30 })

describe("the framing scanner", () => {
  for (const framing of framings) {
    it.prop(`${framing}: however the stream is chunked, the same starts and ends`, [sizes, cuts], ([sizes, cuts]) => {
      const messages = sizes.map((size, n) => encode(framing, n, size))
      const stream = Buffer.concat(messages)
      const { ends, starts } = boundaries(messages)
      const scanned = scanInChunks(framing, stream, cuts)
      for (const chunk of scanned.chunks) {
        const first = starts.find((s) => s >= chunk.from && s < chunk.to)
        expect(chunk.firstStart).toBe(first === undefined ? -1 : first - chunk.from)
        expect(chunk.ends).toBe(ends.filter((e) => e >= chunk.from && e < chunk.to).length)
      }
      expect(atBoundary(scanned.state)).toBe(true)
    })

    it.prop(`${framing}: a message start is found from any point of held bytes`, [
      sizes,
      FastCheck.nat(),
      FastCheck.nat()
    ], ([sizes, a, b]) => {
      const messages = sizes.map((size, n) => encode(framing, n, size))
      const stream = Buffer.concat(messages)
      const { ends, starts } = boundaries(messages)
      // A run of the stream from `begin`, as a buffer holds it, with its first start.
      const begin = a % stream.length
      const run = stream.subarray(begin)
      const firstAbs = starts.find((s) => s >= begin)
      const firstStart = firstAbs === undefined ? -1 : firstAbs - begin
      const from = b % (run.length + 1)
      const found = seekStart(framing, run, firstStart, from)
      const expected = starts.find((s) => s >= begin + from && s < stream.length)
      if (expected === undefined) expect(found).toBeUndefined()
      else {
        expect(found?.start).toBe(expected - begin)
        expect(found?.endsBefore).toBe(ends.filter((e) => e >= begin && e < expected).length)
      }
    })
  }

  it("lines: \\r\\n ends a line too; a partial line is carried into the next chunk", () => {
    let result = scan("lines", max, initialState("lines"), Buffer.from("ab\r\ncd"))
    expect([result.firstStart, result.ends, atBoundary(result.state)]).toEqual([0, 1, false])
    result = scan("lines", max, result.state, Buffer.from("e\nf"))
    expect([result.firstStart, result.ends, atBoundary(result.state)]).toEqual([2, 1, false])
  })

  it("lines: a line longer than --max-message is reported where it starts, with the size seen", () => {
    const first = scan("lines", 10, initialState("lines"), Buffer.from("ok\n0123456"))
    expect(first.tooLong).toBeUndefined()
    const second = scan("lines", 10, first.state, Buffer.from("789ab"))
    expect(second.tooLong).toEqual({ at: 0, size: 12 })
    const inOne = scan("lines", 10, initialState("lines"), Buffer.from("ok\n0123456789ab\n"))
    expect(inOne.tooLong).toEqual({ at: 3, size: 12 })
    expect(inOne.ends).toBe(1)
    // Exactly --max-message bytes (without the \n) is allowed.
    expect(scan("lines", 10, initialState("lines"), Buffer.from("0123456789\n")).tooLong).toBeUndefined()
  })

  it("u16be, u32be: a length over --max-message is reported at its message's start", () => {
    const ok = encode("u32be", 1, 5)
    const bad = Buffer.from([0, 0, 0, 11])
    const result = scan("u32be", 10, initialState("u32be"), Buffer.concat([ok, bad]))
    expect(result.tooLong).toEqual({ at: ok.length, size: 11 })
    expect(result.ends).toBe(1)
    // A prefix split over two chunks is read whole.
    const split = scan("u16be", 10, initialState("u16be"), Buffer.from([0]))
    expect(split.tooLong).toBeUndefined()
    expect(scan("u16be", 10, split.state, Buffer.from([11])).tooLong).toEqual({ at: 0, size: 11 })
    // Zero-length messages are messages.
    const empty = scan("u16be", 10, initialState("u16be"), Buffer.from([0, 0, 0, 0]))
    expect([empty.firstStart, empty.ends, atBoundary(empty.state)]).toEqual([0, 2, true])
  })
})

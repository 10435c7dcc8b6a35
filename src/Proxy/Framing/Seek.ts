import type { MessageFraming } from "./Framing.js"
import { prefixBytes } from "./Framing.js"

/** A message start found inside held bytes, and how many messages end before it. */
export interface Found {
  readonly start: number
  readonly endsBefore: number
}

const newline = 10

const countNewlines = (bytes: Uint8Array, to: number): number => {
  let count = 0
  let at = bytes.indexOf(newline)
  while (at !== -1 && at < to) {
    count++
    at = bytes.indexOf(newline, at + 1)
  }
  return count
}

/**
 * The first message start at or after `from` in `bytes`, a run of the stream
 * whose first message start is at `firstStart` (-1: none in it); undefined when
 * none is inside `bytes`. For eviction, off the hot path: lines by `indexOf`,
 * lengths by walking the prefixes from `firstStart`.
 */
export const seekStart = (
  framing: MessageFraming,
  bytes: Uint8Array,
  firstStart: number,
  from: number
): Found | undefined => {
  if (firstStart < 0) return undefined
  if (from <= firstStart) return { start: firstStart, endsBefore: firstStart > 0 ? 1 : 0 }
  const length = bytes.length
  if (framing === "lines") {
    const at = bytes.indexOf(newline, from - 1)
    if (at === -1 || at + 1 >= length) return undefined
    return { start: at + 1, endsBefore: countNewlines(bytes, at + 1) }
  }
  const width = prefixBytes(framing)
  let start = firstStart
  let endsBefore = firstStart > 0 ? 1 : 0
  while (start < from) {
    if (start + width > length) return undefined
    let value = 0
    for (let i = 0; i < width; i++) value = value * 256 + bytes[start + i]!
    const next = start + width + value
    if (next >= length) return undefined
    endsBefore++
    start = next
  }
  return { start, endsBefore }
}

import type { MessageFraming } from "./Framing.js"
import { prefixBytes } from "./Framing.js"

/**
 * Where messages start and end in a source's stream, one chunk at a time, as a
 * pure function of the state the previous chunk left. Nothing is copied or
 * assembled: lines are found with `indexOf`, lengths by arithmetic on the prefix.
 *
 * A message "ends" at its last byte; a message "starts" at its first. A chunk's
 * `firstStart` is the offset of the first message start inside it (0 when the
 * chunk begins at a boundary), -1 when a single message spans all of it.
 */
export type ScanState =
  /** Lines: `length` bytes of the current line seen, without its `\n` (0: at a boundary). */
  | { readonly _tag: "Line"; readonly length: number }
  /** Lengths: `got` bytes of the prefix seen (0: at a boundary), their value so far. */
  | { readonly _tag: "Prefix"; readonly got: number; readonly value: number }
  /** Lengths: inside a message's body, `remaining` bytes to go. */
  | { readonly _tag: "Body"; readonly remaining: number }

/** A message over `--max-message`: where it starts in the chunk (0 if before it), and the size seen. */
export interface TooLong {
  readonly at: number
  readonly size: number
}

export interface ScanResult {
  readonly state: ScanState
  /** The first message start inside the chunk, or -1. */
  readonly firstStart: number
  /** Messages whose last byte is in the chunk (before `tooLong.at`, if there is one). */
  readonly ends: number
  readonly tooLong: TooLong | undefined
}

const lineStart: ScanState = { _tag: "Line", length: 0 }
const prefixStart: ScanState = { _tag: "Prefix", got: 0, value: 0 }

/** The state at the start of a stream. */
export const initialState = (framing: MessageFraming): ScanState => (framing === "lines" ? lineStart : prefixStart)

/** Whether the next byte of the stream starts a message. */
export const atBoundary = (state: ScanState): boolean =>
  state._tag === "Line" ? state.length === 0 : state._tag === "Prefix" && state.got === 0

const newline = 10

const scanLines = (state: Extract<ScanState, { _tag: "Line" }>, chunk: Uint8Array, max: number): ScanResult => {
  const length = chunk.length
  let carried = state.length
  let firstStart = carried === 0 ? 0 : -1
  let ends = 0
  let from = 0
  while (true) {
    const at = chunk.indexOf(newline, from)
    if (at === -1) {
      const partial = carried + length - from
      if (partial > max) return { state, firstStart, ends, tooLong: { at: carried > 0 ? 0 : from, size: partial } }
      return {
        state: partial === 0 ? lineStart : { _tag: "Line", length: partial },
        firstStart,
        ends,
        tooLong: undefined
      }
    }
    const line = carried + at - from
    if (line > max) return { state, firstStart, ends, tooLong: { at: carried > 0 ? 0 : from, size: line } }
    ends++
    carried = 0
    from = at + 1
    if (firstStart === -1 && from < length) firstStart = from
    if (from === length) return { state: lineStart, firstStart, ends, tooLong: undefined }
  }
}

const scanLengths = (
  state: Exclude<ScanState, { _tag: "Line" }>,
  chunk: Uint8Array,
  width: number,
  max: number
): ScanResult => {
  const length = chunk.length
  let firstStart = -1
  let ends = 0
  let at = 0
  let got = 0
  let value = 0
  if (state._tag === "Body") {
    if (state.remaining > length)
      return { state: { _tag: "Body", remaining: state.remaining - length }, firstStart, ends, tooLong: undefined }
    at = state.remaining
    ends = 1
  } else {
    got = state.got
    value = state.value
  }
  // `at` is a message start when `got` is 0, else inside a prefix that began in the previous chunk.
  while (at < length) {
    const startedHere = got === 0
    const start = at
    if (startedHere) {
      if (firstStart === -1) firstStart = at
      if (at + width <= length) {
        value = width === 4
          ? ((chunk[at]! << 24) | (chunk[at + 1]! << 16) | (chunk[at + 2]! << 8) | chunk[at + 3]!) >>> 0
          : (chunk[at]! << 8) | chunk[at + 1]!
        at += width
        got = width
      }
    }
    while (got < width && at < length) {
      value = value * 256 + chunk[at++]!
      got++
    }
    if (got < width) return { state: { _tag: "Prefix", got, value }, firstStart, ends, tooLong: undefined }
    if (value > max) return { state, firstStart, ends, tooLong: { at: startedHere ? start : 0, size: value } }
    const bodyEnd = at + value
    got = 0
    value = 0
    if (bodyEnd > length) {
      return { state: { _tag: "Body", remaining: bodyEnd - length }, firstStart, ends, tooLong: undefined }
    }
    ends++
    at = bodyEnd
  }
  return { state: prefixStart, firstStart, ends, tooLong: undefined }
}

/**
 * Scans `chunk`, which follows a stream that left `state`. A message longer than
 * `max` bytes (a line without `\n` for longer, a length over it) stops the scan:
 * `tooLong` says where, and the state is left as it was before the chunk.
 */
export const scan = (framing: MessageFraming, max: number, state: ScanState, chunk: Uint8Array): ScanResult =>
  state._tag === "Line"
    ? scanLines(state, chunk, max)
    : scanLengths(state, chunk, prefixBytes(framing as "u16be" | "u32be"), max)

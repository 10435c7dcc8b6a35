// The byte stream every throughput source sends: a pseudo-random block whose
// length is a prime, repeated. A sink checks each chunk against the block at its
// offset with one memcmp (Buffer#compare on ranges: no allocation), so a lost,
// repeated or reordered run shows up, and so does a missing tail (byte count).

/** Length of the repeated block: a prime just under 64 KiB. */
export const period = 65521

const makeBlock = () => {
  const block = Buffer.allocUnsafe(period)
  let state = 0x2545f491
  for (let i = 0; i < period; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0
    block[i] = state >>> 24
  }
  return block
}

/** One period: what a source writes, again and again (never copied). */
export const block = makeBlock()
/** Two periods back to back, so any chunk of up to one period compares against one range. */
const doubled = Buffer.concat([block, block])

/**
 * The stream of a framed run (`--framing lines`): lines of `messageSize` bytes
 * (letters, then `\n`), in a block of as many whole lines as fit in 64 KiB, repeated.
 */
export const linesPattern = (messageSize) => {
  const lines = Math.floor(65536 / messageSize)
  const linesBlock = Buffer.allocUnsafe(lines * messageSize)
  let state = 0x2545f491
  for (let i = 0; i < linesBlock.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0
    linesBlock[i] = (i + 1) % messageSize === 0 ? 10 : 97 + ((state >>> 24) % 26)
  }
  return { block: linesBlock, period: linesBlock.length, doubled: Buffer.concat([linesBlock, linesBlock]) }
}

/** The pattern of a run: the plain one, or lines of `messageSize` bytes. */
export const patternOf = (messageSize) =>
  messageSize === undefined ? { block, period, doubled } : linesPattern(messageSize)

/** A stream position and a running verdict for one received stream. */
export class Verifier {
  offset = 0
  bytes = 0
  mismatchAt = -1

  constructor(pattern = { period, doubled }) {
    this.period = pattern.period
    this.doubled = pattern.doubled
  }

  /** Checks `chunk` (the next bytes of the stream); returns false once anything was wrong. */
  check(chunk) {
    let at = 0
    const { doubled, period } = this
    while (at < chunk.length) {
      const piece = Math.min(chunk.length - at, period)
      if (this.mismatchAt < 0 && chunk.compare(doubled, this.offset, this.offset + piece, at, at + piece) !== 0) {
        this.mismatchAt = this.bytes + at
      }
      at += piece
      this.offset = (this.offset + piece) % period
    }
    this.bytes += chunk.length
    return this.mismatchAt < 0
  }
}

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

/** A stream position and a running verdict for one received stream. */
export class Verifier {
  offset = 0
  bytes = 0
  mismatchAt = -1

  /** Checks `chunk` (the next bytes of the stream); returns false once anything was wrong. */
  check(chunk) {
    let at = 0
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

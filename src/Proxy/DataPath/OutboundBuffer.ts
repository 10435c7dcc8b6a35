import type { MessageFraming } from "../Framing/Framing.js"
import { seekStart } from "../Framing/Seek.js"

/** Where a framed buffer counts the messages it delivers and drops (a message counts once its last byte does). */
export interface MessageTally {
  addDeliveredMessages(count: number): void
  addDroppedMessages(count: number): void
}

const noTally: MessageTally = { addDeliveredMessages: () => {}, addDroppedMessages: () => {} }

// Stands in for evicted chunks until the queue is compacted, so their memory is freed at once.
const released = new Uint8Array(0)

/** Chunks smaller than this are copied together into shared blocks... */
const smallChunk = 4 * 1024
/** ...of this size, so a stream of tiny segments costs bytes, not objects. */
const blockSize = 16 * 1024

/**
 * The bytes of one source held for one destination: queued (not yet handed to
 * the socket) plus in flight (handed over, write not yet complete). `capacity`
 * is the bound the forwarder keeps it to: it appends a whole chunk while it holds
 * the source back (so one socket read at most goes past it), and evicts the
 * oldest bytes when its destination is down. Large chunks are kept as they are
 * and split with `subarray`; small ones are copied into blocks.
 *
 * With a framing (issue 13), each queued run also knows where its first message
 * starts and how many messages end in it, so that eviction drops whole messages
 * (the newest whole messages that fit stay) and a new connection is handed bytes
 * from a message start on (`restartAtMessage`). Without one (`none`), none of that
 * is kept, and it behaves byte for byte as before.
 */
export class OutboundBuffer {
  // A queue with a moving head: evicting the oldest of many chunks must not be O(n).
  private chunks: Array<Uint8Array> = []
  private head = 0
  /** The block small chunks are being copied into; it is always the last queued chunk. */
  private block: { readonly bytes: Uint8Array; used: number } | undefined
  private queuedBytesValue = 0
  private inFlightBytesValue = 0
  // Framed only, parallel to `chunks`: each run's first message start (-1: none) and messages ending in it.
  private starts: Array<number> = []
  private ends: Array<number> = []
  private inFlightMessages = 0
  /** Framed only: the next byte must start a message; bytes before the next start are dropped. */
  private needsStart = false
  /** Framed only: where delivered and dropped messages are counted. */
  tally: MessageTally = noTally

  constructor(readonly capacity: number, readonly framing: MessageFraming | undefined = undefined) {}

  get queuedBytes(): number {
    return this.queuedBytesValue
  }

  get inFlightBytes(): number {
    return this.inFlightBytesValue
  }

  get heldBytes(): number {
    return this.queuedBytesValue + this.inFlightBytesValue
  }

  get room(): number {
    return Math.max(0, this.capacity - this.heldBytes)
  }

  /** True once it holds `capacity` bytes or more. */
  get full(): boolean {
    return this.heldBytes >= this.capacity
  }

  /** Appends all of `chunk`, whatever it holds already. */
  append(chunk: Uint8Array): void {
    if (chunk.length > 0) this.push(chunk, 0, 0)
  }

  /**
   * Appends all of `chunk`, evicting the oldest queued bytes beyond capacity, so
   * what stays is always the newest contiguous run. Returns the bytes evicted.
   */
  appendEvictingOldest(chunk: Uint8Array): number {
    const limit = Math.max(0, this.capacity - this.inFlightBytesValue)
    let evicted = 0
    let kept = chunk
    if (kept.length > limit) {
      evicted += kept.length - limit + this.queuedBytesValue
      kept = kept.subarray(kept.length - limit)
      this.resetQueue()
    }
    let excess = this.queuedBytesValue + kept.length - limit
    while (excess > 0) {
      const oldest = this.chunks[this.head]!
      if (oldest.length <= excess) {
        this.chunks[this.head++] = released
        this.queuedBytesValue -= oldest.length
        evicted += oldest.length
        excess -= oldest.length
      } else {
        this.chunks[this.head] = oldest.subarray(excess)
        this.queuedBytesValue -= excess
        evicted += excess
        excess = 0
      }
      // The block's view was cut or dropped: start a new one for the next small chunk.
      if (this.head >= this.chunks.length - 1) this.block = undefined
    }
    if (this.head > 1024 && this.head * 2 > this.chunks.length) this.compact()
    if (kept.length > 0) this.push(kept, 0, 0)
    return evicted
  }

  /**
   * Moves up to about `maxBytes` of the queue (at least one chunk) in flight
   * and returns it, oldest first.
   */
  takeForWrite(maxBytes: number): Array<Uint8Array> {
    const taken: Array<Uint8Array> = []
    let bytes = 0
    while (
      this.head < this.chunks.length && (taken.length === 0 || bytes + this.chunks[this.head]!.length <= maxBytes)
    ) {
      const chunk = this.chunks[this.head]!
      if (this.framing !== undefined) this.inFlightMessages += this.ends[this.head]!
      this.chunks[this.head++] = released
      taken.push(chunk)
      bytes += chunk.length
    }
    this.queuedBytesValue -= bytes
    this.inFlightBytesValue += bytes
    // A block handed to the socket must never be written into again.
    if (this.head >= this.chunks.length) {
      this.resetQueue()
    } else if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.compact()
    }
    return taken
  }

  /** The write of everything in flight completed; returns the bytes delivered. */
  settleWrite(): number {
    if (this.inFlightMessages > 0) this.tally.addDeliveredMessages(this.inFlightMessages)
    return this.clearInFlight()
  }

  /** The write of everything in flight failed; returns the bytes lost. */
  abandonWrite(): number {
    if (this.inFlightMessages > 0) this.tally.addDroppedMessages(this.inFlightMessages)
    return this.clearInFlight()
  }

  /** Drops everything queued, when there is no destination to deliver it to; returns the bytes dropped. */
  discardQueued(): number {
    const dropped = this.queuedBytesValue
    if (this.framing !== undefined) {
      let messages = 0
      for (let i = this.head; i < this.ends.length; i++) messages += this.ends[i]!
      this.dropMessages(messages)
    }
    this.resetQueue()
    return dropped
  }

  // -------------------------------------------------------------------------
  // Framed only: `chunk` comes with its first message start (-1: none) and the messages ending in it.

  /** Appends `chunk` from its first message start if the next byte must start one; returns the bytes dropped. */
  appendMessages(chunk: Uint8Array, firstStart: number, ends: number): number {
    if (this.needsStart) {
      if (firstStart < 0) {
        this.dropMessages(ends)
        return chunk.length
      }
      this.needsStart = false
      if (firstStart > 0) {
        this.dropMessages(1)
        this.push(chunk.subarray(firstStart), 0, ends - 1)
        return firstStart
      }
    }
    if (chunk.length > 0) this.push(chunk, firstStart, ends)
    return 0
  }

  /**
   * Appends `chunk`, evicting the oldest queued messages beyond capacity, so what
   * stays is the newest whole messages that fit, from a message start. Returns the bytes dropped.
   */
  appendMessagesEvictingOldest(chunk: Uint8Array, firstStart: number, ends: number): number {
    const framing = this.framing!
    const limit = Math.max(0, this.capacity - this.inFlightBytesValue)
    let dropped = 0
    let kept = chunk
    let keptStart = firstStart
    let keptEnds = ends
    if (kept.length > limit) {
      dropped += this.discardQueued()
      const found = seekStart(framing, kept, keptStart, kept.length - limit)
      if (found === undefined) {
        this.dropMessages(keptEnds)
        this.needsStart = true
        return dropped + kept.length
      }
      this.needsStart = false
      this.dropMessages(found.endsBefore)
      dropped += found.start
      kept = kept.subarray(found.start)
      keptStart = 0
      keptEnds -= found.endsBefore
    }
    let excess = this.queuedBytesValue + kept.length - limit
    while (excess > 0 && this.head < this.chunks.length) {
      const oldest = this.chunks[this.head]!
      const found = oldest.length <= excess ? undefined : seekStart(framing, oldest, this.starts[this.head]!, excess)
      if (found === undefined) {
        dropped += this.dropHead(oldest)
        excess -= oldest.length
      } else {
        dropped += this.cutHead(oldest, found.start, found.endsBefore)
        excess = 0
      }
    }
    if (dropped > 0 && this.head >= this.chunks.length) {
      // All of the queue went: `kept` may go on with a message whose start went with it.
      this.resetQueue()
      this.needsStart = true
    }
    dropped += this.alignHead()
    if (this.head > 1024 && this.head * 2 > this.chunks.length) this.compact()
    return dropped + this.appendMessages(kept, keptStart, keptEnds)
  }

  /**
   * The connection these bytes went to is gone: the next one must start at a
   * message start. Drops the queued bytes before the first one; returns how many.
   */
  restartAtMessage(): number {
    if (this.head >= this.chunks.length) {
      this.needsStart = true
      return 0
    }
    return this.alignHead()
  }

  /** Makes the queue start at a message start, dropping what comes before; once emptied, the next byte must be one. */
  private alignHead(): number {
    let dropped = 0
    while (this.head < this.chunks.length) {
      const start = this.starts[this.head]!
      if (start === 0) return dropped
      const oldest = this.chunks[this.head]!
      if (start > 0) return dropped + this.cutHead(oldest, start, 1)
      dropped += this.dropHead(oldest)
    }
    if (dropped > 0) {
      this.resetQueue()
      this.needsStart = true
    }
    return dropped
  }

  private dropHead(oldest: Uint8Array): number {
    this.dropMessages(this.ends[this.head]!)
    this.chunks[this.head++] = released
    this.queuedBytesValue -= oldest.length
    // The block's view was dropped: start a new one for the next small chunk.
    if (this.head >= this.chunks.length - 1) this.block = undefined
    return oldest.length
  }

  /** Cuts the head run at `start`, a message start, after which `endsBefore` messages are gone. */
  private cutHead(oldest: Uint8Array, start: number, endsBefore: number): number {
    this.dropMessages(endsBefore)
    this.chunks[this.head] = oldest.subarray(start)
    this.starts[this.head] = 0
    this.ends[this.head] = this.ends[this.head]! - endsBefore
    this.queuedBytesValue -= start
    if (this.head >= this.chunks.length - 1) this.block = undefined
    return start
  }

  private dropMessages(count: number): void {
    if (count > 0) this.tally.addDroppedMessages(count)
  }

  private push(chunk: Uint8Array, firstStart: number, ends: number): void {
    // Only chunks that queue up behind others are packed; one the writer takes at once is not copied.
    if (chunk.length < smallChunk && this.head < this.chunks.length) this.copyIntoBlock(chunk, firstStart, ends)
    else {
      this.closeBlock()
      this.chunks.push(chunk)
      if (this.framing !== undefined) {
        this.starts.push(firstStart)
        this.ends.push(ends)
      }
    }
    this.queuedBytesValue += chunk.length
  }

  private compact(): void {
    this.chunks = this.chunks.slice(this.head)
    if (this.framing !== undefined) {
      this.starts = this.starts.slice(this.head)
      this.ends = this.ends.slice(this.head)
    }
    this.head = 0
  }

  /** Stops filling the current block; a mostly empty one is shrunk, so it does not hold 16 KiB for a few bytes. */
  private closeBlock(): void {
    const block = this.block
    this.block = undefined
    if (block === undefined || block.used * 2 >= blockSize) return
    const last = this.chunks.length - 1
    if (last >= this.head) this.chunks[last] = block.bytes.slice(0, block.used)
  }

  private copyIntoBlock(chunk: Uint8Array, firstStart: number, ends: number): void {
    let block = this.block
    if (block === undefined || block.bytes.length - block.used < chunk.length) {
      this.closeBlock()
      block = { bytes: new Uint8Array(blockSize), used: 0 }
      this.block = block
      this.chunks.push(block.bytes.subarray(0, 0))
      if (this.framing !== undefined) {
        this.starts.push(-1)
        this.ends.push(0)
      }
    }
    if (this.framing !== undefined) {
      const last = this.chunks.length - 1
      if (this.starts[last]! < 0 && firstStart >= 0) this.starts[last] = block.used + firstStart
      this.ends[last] = this.ends[last]! + ends
    }
    block.bytes.set(chunk, block.used)
    block.used += chunk.length
    this.chunks[this.chunks.length - 1] = block.bytes.subarray(0, block.used)
  }

  private resetQueue(): void {
    this.chunks = []
    if (this.framing !== undefined) {
      this.starts = []
      this.ends = []
    }
    this.head = 0
    this.block = undefined
    this.queuedBytesValue = 0
  }

  private clearInFlight(): number {
    const bytes = this.inFlightBytesValue
    this.inFlightBytesValue = 0
    this.inFlightMessages = 0
    return bytes
  }
}

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
 */
export class OutboundBuffer {
  // A queue with a moving head: evicting the oldest of many chunks must not be O(n).
  private chunks: Array<Uint8Array> = []
  private head = 0
  /** The block small chunks are being copied into; it is always the last queued chunk. */
  private block: { readonly bytes: Uint8Array; used: number } | undefined
  private queuedBytesValue = 0
  private inFlightBytesValue = 0

  constructor(readonly capacity: number) {}

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
    if (chunk.length > 0) this.push(chunk)
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
    if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head)
      this.head = 0
    }
    if (kept.length > 0) this.push(kept)
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
      this.chunks = this.chunks.slice(this.head)
      this.head = 0
    }
    return taken
  }

  /** The write of everything in flight completed; returns the bytes delivered. */
  settleWrite(): number {
    return this.clearInFlight()
  }

  /** The write of everything in flight failed; returns the bytes lost. */
  abandonWrite(): number {
    return this.clearInFlight()
  }

  /** Drops everything queued, when there is no destination to deliver it to; returns the bytes dropped. */
  discardQueued(): number {
    const dropped = this.queuedBytesValue
    this.resetQueue()
    return dropped
  }

  private push(chunk: Uint8Array): void {
    // Only chunks that queue up behind others are packed; one the writer takes at once is not copied.
    if (chunk.length < smallChunk && this.head < this.chunks.length) this.copyIntoBlock(chunk)
    else {
      this.closeBlock()
      this.chunks.push(chunk)
    }
    this.queuedBytesValue += chunk.length
  }

  /** Stops filling the current block; a mostly empty one is shrunk, so it does not hold 16 KiB for a few bytes. */
  private closeBlock(): void {
    const block = this.block
    this.block = undefined
    if (block === undefined || block.used * 2 >= blockSize) return
    const last = this.chunks.length - 1
    if (last >= this.head) this.chunks[last] = block.bytes.slice(0, block.used)
  }

  private copyIntoBlock(chunk: Uint8Array): void {
    let block = this.block
    if (block === undefined || block.bytes.length - block.used < chunk.length) {
      this.closeBlock()
      block = { bytes: new Uint8Array(blockSize), used: 0 }
      this.block = block
      this.chunks.push(block.bytes.subarray(0, 0))
    }
    block.bytes.set(chunk, block.used)
    block.used += chunk.length
    this.chunks[this.chunks.length - 1] = block.bytes.subarray(0, block.used)
  }

  private resetQueue(): void {
    this.chunks = []
    this.head = 0
    this.block = undefined
    this.queuedBytesValue = 0
  }

  private clearInFlight(): number {
    const bytes = this.inFlightBytesValue
    this.inFlightBytesValue = 0
    return bytes
  }
}

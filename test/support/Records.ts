/**
 * Verifiable traffic: self-describing records a test source sends, and a checker
 * a test destination runs over each connection's byte stream.
 *
 * A record is a 28-byte header and a payload (little endian):
 *   magic u32 | sourceId u32 | seq u32 | offset f64 | length u32 | checksum u32 | payload
 * `offset` is where the record starts in its source connection's byte stream, so a
 * destination knows the exact stream position of every byte it receives, and
 * `checksum` (FNV-1a over the header fields after the magic, and the payload)
 * shows any altered byte. Each source connection has its own `sourceId`;
 * `seq` counts its records from 0.
 *
 * The proxy may leave gaps only at destination connection boundaries, so a new
 * connection may start in the middle of a record: the checker finds the first
 * whole record, and from there on every byte must be the next one of the stream.
 *
 * Framed (`--framing u32be`, issue 13), each record is preceded by its length as a
 * 4-byte big-endian prefix, and `offset` is where that prefix starts. The proxy
 * must then start every destination connection at a record: the checker requires
 * one at the connection's first byte, and says whether the connection ended inside one.
 */

export const recordMagic = 0x53505243
export const headerBytes = 28
export const maxPayloadBytes = 4096
export const maxRecordBytes = headerBytes + maxPayloadBytes
/** Framed: the u32be length before each record. */
export const framePrefixBytes = 4

const fnvOffset = 0x811c9dc5
const fnvPrime = 0x01000193

const fnv1a = (bytes: Uint8Array, from: number, to: number, seed: number = fnvOffset): number => {
  let hash = seed
  for (let i = from; i < to; i++) {
    hash ^= bytes[i]!
    hash = Math.imul(hash, fnvPrime)
  }
  return hash >>> 0
}

/** The checksum of a whole record in `bytes` at `at` (header fields after the magic, then the payload). */
const recordChecksum = (bytes: Uint8Array, at: number, payloadLength: number): number =>
  fnv1a(bytes, at + headerBytes, at + headerBytes + payloadLength, fnv1a(bytes, at + 4, at + 24))

/** Builds the records of one source connection, numbering them and tracking the stream offset. */
export class RecordWriter {
  private seq = 0
  private offsetValue = 0

  constructor(readonly sourceId: number, readonly framed: boolean = false) {}

  /** Bytes produced so far: the stream offset of the next record. */
  get offset(): number {
    return this.offsetValue
  }

  /** The next record, with a payload of `payloadLength` bytes that depend on its position. */
  next(payloadLength: number): Buffer {
    const length = Math.max(0, Math.min(maxPayloadBytes, Math.floor(payloadLength)))
    const record = Buffer.allocUnsafe(headerBytes + length)
    record.writeUInt32LE(recordMagic, 0)
    record.writeUInt32LE(this.sourceId >>> 0, 4)
    record.writeUInt32LE(this.seq >>> 0, 8)
    record.writeDoubleLE(this.offsetValue, 12)
    record.writeUInt32LE(length, 20)
    for (let i = 0; i < length; i++) record[headerBytes + i] = (this.offsetValue + i * 7 + this.seq) & 0xff
    record.writeUInt32LE(recordChecksum(record, 0, length), 24)
    this.seq++
    if (!this.framed) {
      this.offsetValue += record.length
      return record
    }
    const prefix = Buffer.allocUnsafe(framePrefixBytes)
    prefix.writeUInt32BE(record.length)
    this.offsetValue += framePrefixBytes + record.length
    return Buffer.concat([prefix, record])
  }
}

interface Header {
  readonly sourceId: number
  readonly seq: number
  readonly offset: number
  readonly length: number
  readonly checksum: number
}

const readHeader = (bytes: Buffer, at: number): Header => ({
  sourceId: bytes.readUInt32LE(at + 4),
  seq: bytes.readUInt32LE(at + 8),
  offset: bytes.readDoubleLE(at + 12),
  length: bytes.readUInt32LE(at + 20),
  checksum: bytes.readUInt32LE(at + 24)
})

/** What one destination connection carried, once it is over (or so far). */
export interface Segment {
  /** The source connection whose bytes these are; undefined when no whole record arrived. */
  readonly sourceId: number | undefined
  /** Stream offset of the connection's first byte. */
  readonly firstOffset: number
  /** Stream offset just after the connection's last byte. */
  readonly endOffset: number
  readonly bytes: number
  readonly records: number
  /** The first integrity violation found on this connection, if any. */
  readonly violation: string | undefined
  /** Framed only: its last bytes are part of a record, not the whole of one. */
  readonly endsInsideRecord?: boolean
}

/**
 * Checks one destination connection's stream as it arrives: the first whole
 * record may come after a partial one (a gap at the connection's start); after
 * it, every record must be the next one of the same source, unaltered.
 */
export class StreamChecker {
  private pending: Buffer = Buffer.alloc(0)
  /** Connection bytes before `pending`. */
  private consumed = 0
  private aligned: { sourceId: number; nextSeq: number; nextOffset: number; firstOffset: number } | undefined
  private violationValue: string | undefined
  private bytesValue = 0
  private recordsValue = 0

  /** Bytes before a record's header: its length prefix, when framed. */
  private readonly prefix: number

  /** `label` names the connection in violation messages. */
  constructor(readonly label: string, readonly framed: boolean = false) {
    this.prefix = framed ? framePrefixBytes : 0
  }

  get violation(): string | undefined {
    return this.violationValue
  }

  get sourceId(): number | undefined {
    return this.aligned?.sourceId
  }

  /** Stream offset just after the last byte received (valid once a record was found). */
  get endOffset(): number {
    return this.aligned === undefined ? 0 : this.aligned.firstOffset + this.bytesValue
  }

  push(chunk: Uint8Array): void {
    this.bytesValue += chunk.length
    if (this.violationValue !== undefined) return
    this.pending = this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk])
    if (this.aligned === undefined) this.findFirstRecord()
    if (this.aligned !== undefined) this.checkRecords()
  }

  segment(): Segment {
    return {
      sourceId: this.aligned?.sourceId,
      firstOffset: this.aligned?.firstOffset ?? 0,
      endOffset: this.endOffset,
      bytes: this.bytesValue,
      records: this.recordsValue,
      violation: this.violationValue,
      ...(this.framed ? { endsInsideRecord: this.violationValue === undefined && this.pending.length > 0 } : {})
    }
  }

  private fail(message: string): void {
    this.violationValue = `${this.label}: ${message}`
    this.pending = Buffer.alloc(0)
  }

  /** A whole, valid record starts at `at` of `pending`: undefined if the bytes there cannot start one. */
  private validAt(frame: number): Header | "need-more" | undefined {
    const at = frame + this.prefix
    if (this.pending.length - at < headerBytes) return "need-more"
    if (this.pending.readUInt32LE(at) !== recordMagic) return undefined
    const header = readHeader(this.pending, at)
    if (header.length > maxPayloadBytes) return undefined
    if (this.framed && this.pending.readUInt32BE(frame) !== headerBytes + header.length) return undefined
    if (this.pending.length - at < headerBytes + header.length) return "need-more"
    return recordChecksum(this.pending, at, header.length) === header.checksum ? header : undefined
  }

  private findFirstRecord(): void {
    if (this.framed) {
      // Framed, a connection starts at a record, and nowhere else.
      const found = this.validAt(0)
      if (found === "need-more") return
      if (found === undefined) {
        return this.fail(`the connection does not start at a record (--framing u32be): it starts inside one`)
      }
    }
    for (let at = 0; at < this.pending.length; at++) {
      if (this.consumed + at > maxRecordBytes) {
        return this.fail(`no valid record in the first ${maxRecordBytes} bytes: bytes were altered`)
      }
      const found = this.validAt(at)
      if (found === "need-more") return
      if (found === undefined) continue
      const position = this.consumed + at
      if (found.offset < position) {
        return this.fail(
          `record seq ${found.seq} of source ${found.sourceId} at connection byte ${position} claims stream offset ${found.offset}: bytes were added`
        )
      }
      this.aligned = {
        sourceId: found.sourceId,
        nextSeq: found.seq,
        nextOffset: found.offset,
        firstOffset: found.offset - position
      }
      this.pending = this.pending.subarray(at)
      this.consumed += at
      return
    }
  }

  private checkRecords(): void {
    const state = this.aligned!
    const prefix = this.prefix
    let frame = 0
    while (this.pending.length - frame >= prefix + headerBytes) {
      const at = frame + prefix
      const where =
        `at stream offset ${state.nextOffset} of source ${state.sourceId} (expected record seq ${state.nextSeq})`
      if (this.pending.readUInt32LE(at) !== recordMagic) {
        return this.fail(`bytes altered, or a gap inside one connection, ${where}: no record header there`)
      }
      const header = readHeader(this.pending, at)
      if (header.sourceId !== state.sourceId) {
        return this.fail(
          `bytes of source ${header.sourceId} inside a connection carrying source ${state.sourceId}, ${where}`
        )
      }
      if (header.seq < state.nextSeq || header.offset < state.nextOffset) {
        return this.fail(
          `duplicated or reordered bytes ${where}: got record seq ${header.seq} (offset ${header.offset}) again`
        )
      }
      if (header.seq > state.nextSeq || header.offset > state.nextOffset) {
        return this.fail(`a gap inside one connection ${where}: got record seq ${header.seq} (offset ${header.offset})`)
      }
      if (header.length > maxPayloadBytes)
        return this.fail(`bytes altered ${where}: impossible length ${header.length}`)
      if (prefix > 0 && this.pending.readUInt32BE(frame) !== headerBytes + header.length) {
        return this.fail(`bytes altered ${where}: the length prefix does not match the record`)
      }
      if (this.pending.length - at < headerBytes + header.length) break
      if (recordChecksum(this.pending, at, header.length) !== header.checksum) {
        return this.fail(`bytes altered ${where}: checksum mismatch`)
      }
      frame = at + headerBytes + header.length
      state.nextSeq++
      state.nextOffset += prefix + headerBytes + header.length
      this.recordsValue++
    }
    this.consumed += frame
    this.pending = frame === 0 ? this.pending : Buffer.from(this.pending.subarray(frame))
  }
}

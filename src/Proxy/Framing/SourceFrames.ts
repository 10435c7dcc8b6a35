import type { MessageFraming } from "./Framing.js"
import type { ScanResult, ScanState } from "./Scan.js"
import { atBoundary, initialState, scan } from "./Scan.js"

/** One source's place in its stream of messages: each chunk is scanned once, for every destination. */
export class SourceFrames {
  private state: ScanState

  constructor(readonly framing: MessageFraming, readonly maxMessageBytes: number) {
    this.state = initialState(framing)
  }

  /** Whether the next byte the source sends starts a message. */
  get atBoundary(): boolean {
    return atBoundary(this.state)
  }

  /** Scans the next chunk of the stream. */
  scan(chunk: Uint8Array): ScanResult {
    const result = scan(this.framing, this.maxMessageBytes, this.state, chunk)
    this.state = result.state
    return result
  }
}

/** The log line's words for a message over `--max-message`. */
export const describeTooLong = (framing: MessageFraming, size: number): string =>
  framing === "lines" ? `a line of ${size} bytes or more without \\n` : `a ${framing} length of ${size} bytes`

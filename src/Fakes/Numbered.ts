import type { MessageFraming } from "../Proxy/Framing/Framing.js"
import { prefixBytes } from "../Proxy/Framing/Framing.js"

/**
 * The fakes' numbered messages (`--framing`): `#N ` and random characters, in
 * the framing's form; and a checker that tells, per connection, which of the
 * messages it received were whole and which were not (a connection that starts
 * inside a message begins with a partial one).
 */

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/** Message `n`: `#n `, then `size` random characters, framed. */
export const numberedMessage = (framing: MessageFraming, n: number, size: number): Uint8Array => {
  const body = Buffer.from(
    `#${n} ${Array.from({ length: size }, () => alphabet[Math.floor(Math.random() * 62)]).join("")}`
  )
  if (framing === "lines") return Buffer.concat([body, Buffer.from("\n")])
  const prefix = Buffer.alloc(prefixBytes(framing))
  if (framing === "u16be") prefix.writeUInt16BE(body.length)
  else prefix.writeUInt32BE(body.length)
  return Buffer.concat([prefix, body])
}

const wholeBody = /^#(\d+) [A-Za-z0-9]*$/

/** What one received message was: a whole numbered one, or not. */
export type Checked =
  | { readonly _tag: "Whole"; readonly n: number; readonly bytes: number }
  | { readonly _tag: "Partial"; readonly bytes: Uint8Array }

/** The longest message a checker takes as framed; past it, the stream is not (the connection began mid-message). */
const maxBody = 64 * 1024

/** Splits one connection's bytes into messages of `framing`, from its first byte. */
export class MessageChecker {
  private pending: Buffer = Buffer.alloc(0)
  /** Lost track of the framing: the rest of the connection is not messages. */
  private lost = false
  whole = 0
  partial = 0

  constructor(readonly framing: MessageFraming) {}

  push(chunk: Uint8Array): ReadonlyArray<Checked> {
    if (this.lost) return []
    this.pending = this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk])
    const found: Array<Checked> = []
    while (true) {
      const next = this.next()
      if (next === undefined) break
      if (next._tag === "Whole") this.whole++
      else this.partial++
      found.push(next)
      if (this.lost) break
    }
    return found
  }

  /** At the connection's end: what is left is a partial message, if anything. */
  end(): Checked | undefined {
    if (this.lost || this.pending.length === 0) return undefined
    this.partial++
    return { _tag: "Partial", bytes: this.pending }
  }

  private next(): Checked | undefined {
    const pending = this.pending
    let body: Buffer
    let size: number
    if (this.framing === "lines") {
      const newline = pending.indexOf(10)
      if (newline === -1) return undefined
      body = pending.subarray(0, newline > 0 && pending[newline - 1] === 13 ? newline - 1 : newline)
      size = newline + 1
    } else {
      const width = prefixBytes(this.framing)
      if (pending.length < width) return undefined
      const length = width === 2 ? pending.readUInt16BE(0) : pending.readUInt32BE(0)
      if (length > maxBody) {
        this.lost = true
        this.pending = Buffer.alloc(0)
        return { _tag: "Partial", bytes: pending }
      }
      if (pending.length < width + length) return undefined
      body = pending.subarray(width, width + length)
      size = width + length
    }
    const message = pending.subarray(0, size)
    this.pending = pending.subarray(size)
    const match = wholeBody.exec(body.toString("latin1"))
    return match === null ? { _tag: "Partial", bytes: message } : { _tag: "Whole", n: Number(match[1]), bytes: size }
  }
}

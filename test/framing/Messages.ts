/**
 * Messages in each framing, for the framing tests: encoding, and where they start
 * and end in a stream (the reference the scanner and the checks are held to).
 */
import type { MessageFraming } from "../../src/Proxy/Framing/Framing.js"

/** The message numbered `n`, `size` bytes of body (lines: no `\n` in it), encoded in `framing`. */
export const encode = (framing: MessageFraming, n: number, size: number): Buffer => {
  const body = Buffer.alloc(size)
  const label = Buffer.from(`#${n}:`)
  for (let i = 0; i < size; i++) body[i] = i < label.length ? label[i]! : 97 + ((n + i) % 26)
  if (framing === "lines") return Buffer.concat([body, Buffer.from("\n")])
  const prefix = Buffer.alloc(framing === "u16be" ? 2 : 4)
  if (framing === "u16be") prefix.writeUInt16BE(size)
  else prefix.writeUInt32BE(size)
  return Buffer.concat([prefix, body])
}

/** Offsets of every message start and end (last byte) in the concatenation of `messages`. */
export const boundaries = (messages: ReadonlyArray<Buffer>) => {
  const starts: Array<number> = []
  const ends: Array<number> = []
  let at = 0
  for (const message of messages) {
    starts.push(at)
    at += message.length
    ends.push(at - 1)
  }
  return { starts, ends, length: at }
}

/**
 * Splits one connection's bytes into the messages of `framing`: every one whole,
 * from byte 0; `rest` is what is left after the last whole one (a partial message).
 */
export const splitMessages = (framing: MessageFraming, bytes: Buffer) => {
  const messages: Array<Buffer> = []
  let at = 0
  while (at < bytes.length) {
    let end: number
    if (framing === "lines") {
      const newline = bytes.indexOf(10, at)
      if (newline === -1) break
      end = newline + 1
    } else {
      const width = framing === "u16be" ? 2 : 4
      if (at + width > bytes.length) break
      end = at + width + (width === 2 ? bytes.readUInt16BE(at) : bytes.readUInt32BE(at))
      if (end > bytes.length) break
    }
    messages.push(bytes.subarray(at, end))
    at = end
  }
  return { messages, rest: bytes.length - at }
}

import { messageSize } from "./clock.mjs"

/**
 * Splits a received stream into fixed-size messages, whatever the TCP segments:
 * returns a `data` handler calling `take(message)` for each whole message (a
 * view into the chunk, or into one carry buffer when a message spans chunks).
 */
export const messageFramer = (take) => {
  const carry = Buffer.alloc(messageSize)
  let filled = 0
  return (chunk) => {
    let at = 0
    if (filled > 0) {
      const n = Math.min(messageSize - filled, chunk.length)
      chunk.copy(carry, filled, 0, n)
      filled += n
      at = n
      if (filled < messageSize) return
      take(carry)
      filled = 0
    }
    for (; at + messageSize <= chunk.length; at += messageSize) take(chunk.subarray(at, at + messageSize))
    if (at < chunk.length) {
      chunk.copy(carry, 0, at)
      filled = chunk.length - at
    }
  }
}

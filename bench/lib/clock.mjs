/** Milliseconds on the monotonic clock every thread and process of this machine shares. */
export const nowMs = () => Number(process.hrtime.bigint()) / 1e6

/** The same clock in nanoseconds, as written into latency messages. */
export const nowNs = () => process.hrtime.bigint()

/** Size of one latency message; its first bytes are the sequence number and the send time. */
export const messageSize = 64

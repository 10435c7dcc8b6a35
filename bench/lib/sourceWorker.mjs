// A source, in its own thread. Modes:
//   "stream":   writes `totalBytes` of the pattern to every port in `ports` (one
//               connection each, each at its own pace), then ends them
//   "timed":    writes the pattern until the parent says "stop", then ends
//   "messages": sends `count` 64-byte messages, one every `intervalMs`, then ends
// With `tls: { ca }` (PEM text) every connection speaks TLS, verifying the peer's
// certificate against that CA for 127.0.0.1; "started" comes after the handshakes.
import * as net from "node:net"
import * as tls from "node:tls"
import { parentPort, workerData } from "node:worker_threads"
import { messageSize, nowMs, nowNs } from "./clock.mjs"
import { patternOf } from "./pattern.mjs"

const { mode, ports } = workerData
// `messageSize`: the stream is lines of that many bytes (a framed run); else the plain pattern.
const { block, period } = patternOf(workerData.messageSize)
let stopped = false

const connect = (port) =>
  new Promise((resolve, reject) => {
    // A large write buffer: the source refills it once per drain, not once per block.
    const options = { host: "127.0.0.1", port, noDelay: true, highWaterMark: 1 << 20 }
    const socket = workerData.tls === undefined
      ? net.connect(options, () => resolve(socket))
      : tls.connect({ ...options, ca: workerData.tls.ca, rejectUnauthorized: true }, () => {
        socket.setNoDelay(true)
        resolve(socket)
      })
    socket.once("error", reject)
  })

/** Writes the pattern until `limit` bytes (or until stopped); resolves with the bytes written. */
const pour = (socket, limit) =>
  new Promise((resolve) => {
    let written = 0
    const fill = () => {
      while (written < limit && !stopped) {
        const size = Math.min(period, limit - written)
        written += size
        if (!socket.write(size === period ? block : block.subarray(0, size))) return
      }
      socket.end(() => resolve(written))
    }
    socket.on("drain", fill)
    socket.on("error", () => resolve(written))
    fill()
  })

const sendMessages = (socket, count, intervalMs) =>
  new Promise((resolve) => {
    const message = Buffer.alloc(messageSize)
    let seq = 0
    const timer = setInterval(() => {
      message.writeUInt32LE(seq, 0)
      message.writeBigUInt64LE(nowNs(), 8)
      // write copies nothing until it is flushed, so give each write its own buffer.
      socket.write(Buffer.from(message))
      if (++seq === count) {
        clearInterval(timer)
        socket.end(() => resolve(seq * messageSize))
      }
    }, intervalMs)
  })

parentPort.on("message", (message) => {
  if (message.type === "stop") stopped = true
})

const sockets = await Promise.all(ports.map(connect))
const startedAt = nowMs()
parentPort.postMessage({ type: "started", at: startedAt })
const sent = await Promise.all(
  sockets.map((socket) =>
    mode === "messages"
      ? sendMessages(socket, workerData.count, workerData.intervalMs)
      : pour(socket, mode === "stream" ? workerData.totalBytes : Number.POSITIVE_INFINITY)
  )
)
parentPort.postMessage({ type: "sent", bytes: sent, startedAt, endedAt: nowMs() })

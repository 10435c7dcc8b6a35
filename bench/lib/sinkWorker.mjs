// A destination, in its own thread so it is never what limits a run: accepts any
// number of connections, verifies what each receives, and reports to the parent.
//   mode "stream":   every connection carries the pattern stream (pattern.mjs)
//   mode "messages": every connection carries 64-byte timestamped messages
//   mode "stall":    accepts and never reads (a stalled destination)
// With `tls: { cert, key }` (PEM text) it serves TLS, and counts and verifies what
// each connection carries after the handshake (the decrypted stream).
import * as net from "node:net"
import * as tls from "node:tls"
import { parentPort, workerData } from "node:worker_threads"
import { nowMs, nowNs } from "./clock.mjs"
import { messageFramer } from "./frames.mjs"
import { patternOf, Verifier } from "./pattern.mjs"

const { mode } = workerData
let bytes = 0
let connections = 0
let mismatches = 0
let expectBytes = Number.POSITIVE_INFINITY
let completed = false
const latenciesMs = []
let outOfOrder = 0
/** [ms, cumulative bytes] every 100 ms, for throughput over time. */
const series = []

const checkComplete = () => {
  if (!completed && bytes >= expectBytes) {
    completed = true
    parentPort.postMessage({ type: "complete", at: nowMs(), bytes })
  }
}

const pattern = patternOf(workerData.messageSize)

const onStream = (socket) => {
  const verifier = new Verifier(pattern)
  let counted = false
  socket.on("data", (chunk) => {
    if (!verifier.check(chunk) && !counted) {
      counted = true
      mismatches++
    }
    bytes += chunk.length
    checkComplete()
  })
}

const onMessages = (socket) => {
  let nextSeq = 0
  const frame = messageFramer((message) => {
    const seq = message.readUInt32LE(0)
    if (seq !== nextSeq) outOfOrder++
    nextSeq = seq + 1
    latenciesMs.push(Number(nowNs() - message.readBigUInt64LE(8)) / 1e6)
  })
  socket.on("data", (chunk) => {
    bytes += chunk.length
    frame(chunk)
    checkComplete()
  })
}

const onConnection = (socket) => {
  connections++
  socket.on("error", () => {})
  if (mode === "stream") onStream(socket)
  else if (mode === "messages") onMessages(socket)
}
const server = workerData.tls === undefined
  ? net.createServer({ noDelay: true, pauseOnConnect: mode === "stall" }, onConnection)
  : tls.createServer({ noDelay: true, cert: workerData.tls.cert, key: workerData.tls.key }, onConnection)
// A failed handshake is not a connection: it shows as bytes missing at the end.
server.on("tlsClientError", () => {})
server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, () => {
  parentPort.postMessage({ type: "listening", port: server.address().port })
})

const sampler = setInterval(() => series.push([nowMs(), bytes]), 100)

parentPort.on("message", (message) => {
  if (message.type === "expect") {
    expectBytes = message.bytes
    checkComplete()
  } else if (message.type === "report") {
    parentPort.postMessage({
      type: "report",
      bytes,
      connections,
      mismatches,
      outOfOrder,
      latenciesMs,
      series
    })
  } else if (message.type === "close") {
    clearInterval(sampler)
    server.close()
    process.exit(0)
  }
})

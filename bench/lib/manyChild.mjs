// A child process of the many-sources scenario, so no process of the harness
// holds more than a few thousand sockets. Driven over IPC.
//   node manyChild.mjs sink                 one destination: accepts (noting when the last came), checks order, histograms latency
//   node manyChild.mjs sources PORT COUNT FIRST-ID   COUNT sources, one 64-byte message each per second
import * as net from "node:net"
import { messageSize, nowMs, nowNs } from "./clock.mjs"
import { messageFramer } from "./frames.mjs"
import { histogramAdd, histogramBuckets } from "./stats.mjs"

const [role, ...args] = process.argv.slice(2)
const send = (message) => process.send(message)

const runSink = () => {
  let accepted = 0
  /** When the latest connection was accepted, on the machine's monotonic clock (ms). */
  let lastAcceptAt = Number.NaN
  let open = 0
  let messages = 0
  let outOfOrder = 0
  const histogram = new Uint32Array(histogramBuckets)
  const server = net.createServer({ noDelay: true }, (socket) => {
    accepted++
    lastAcceptAt = nowMs()
    open++
    socket.on("error", () => {})
    socket.on("close", () => open--)
    let nextSeq = -1
    socket.on(
      "data",
      messageFramer((message) => {
        const seq = message.readUInt32LE(4)
        if (nextSeq >= 0 && seq !== nextSeq) outOfOrder++
        nextSeq = seq + 1
        messages++
        histogramAdd(histogram, Number(nowNs() - message.readBigUInt64LE(8)) / 1e6)
      })
    )
  })
  server.listen(
    { host: "127.0.0.1", port: 0, backlog: 4096 },
    () => send({ type: "listening", port: server.address().port })
  )
  process.on("message", (message) => {
    if (message.type === "report") {
      send({ type: "report", accepted, lastAcceptAt, open, messages, outOfOrder, histogram: Array.from(histogram) })
    } else if (message.type === "close") {
      server.close()
      process.exit(0)
    }
  })
}

const runSources = async () => {
  const port = Number(args[0])
  const count = Number(args[1])
  const firstId = Number(args[2])
  const sockets = new Array(count)
  let established = 0
  let failed = 0
  // A bounded number of connection attempts at a time, like clients coming up together.
  let next = 0
  const dialStartAt = nowMs()
  await new Promise((resolve) => {
    const dial = () => {
      if (next >= count) return
      const i = next++
      const socket = net.connect({ host: "127.0.0.1", port, noDelay: true })
      socket.on("error", () => {})
      socket.once("connect", () => {
        established++
        sockets[i] = socket
        if (established + failed === count) resolve()
        dial()
      })
      socket.once("close", () => {
        if (sockets[i] === undefined) {
          failed++
          if (established + failed === count) resolve()
          dial()
        }
      })
    }
    for (let k = 0; k < 256; k++) dial()
  })
  send({ type: "connected", established, failed, dialStartAt, connectedAt: nowMs() })
  const seqs = new Uint32Array(count)
  let sent = 0
  process.on("message", (message) => {
    if (message.type === "run") {
      // Each source sends once a second, the sources spread evenly over the second.
      const start = nowMs()
      const rounds = Math.max(1, Math.round(message.durationMs / 1000))
      let cursor = 0
      let round = 0
      const timer = setInterval(() => {
        const now = nowMs()
        while (round < rounds && start + round * 1000 + (cursor * 1000) / count <= now) {
          const socket = sockets[cursor]
          if (socket !== undefined && !socket.destroyed) {
            const payload = Buffer.allocUnsafe(messageSize).fill(0)
            payload.writeUInt32LE(firstId + cursor, 0)
            payload.writeUInt32LE(seqs[cursor]++, 4)
            payload.writeBigUInt64LE(nowNs(), 8)
            socket.write(payload)
            sent++
          }
          if (++cursor === count) {
            cursor = 0
            round++
          }
        }
        if (round >= rounds) {
          clearInterval(timer)
          send({ type: "sent", sent })
        }
      }, 5)
    } else if (message.type === "close") {
      let left = 0
      for (const socket of sockets) {
        if (socket === undefined || socket.destroyed) continue
        left++
        socket.end()
        socket.once("close", () => {
          if (--left === 0) process.exit(0)
        })
      }
      if (left === 0) process.exit(0)
      setTimeout(() => process.exit(0), 10_000).unref()
    }
  })
}

if (role === "sink") runSink()
else await runSources()

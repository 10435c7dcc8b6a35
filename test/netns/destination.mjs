// A destination for the network-namespace tests, run inside a test host's
// namespace (`ip netns exec NS node destination.mjs HOST DIR`): a real process
// with real sockets on the far side of a veth pair.
//
// Every connection's bytes are appended, in order, to DIR/<id>.bin before the
// event that reports them is printed, so when the test reads "bytes: N" the
// file holds N bytes. Events are JSON lines on stdout.
import { appendFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"

const [host, dir] = process.argv.slice(2)
if (host === undefined || dir === undefined) {
  process.stderr.write("usage: destination.mjs HOST DIR\n")
  process.exit(2)
}

const report = (event) => process.stdout.write(`${JSON.stringify(event)}\n`)

let nextId = 0
const server = createServer((socket) => {
  const id = nextId++
  const file = join(dir, `${id}.bin`)
  let bytes = 0
  appendFileSync(file, Buffer.alloc(0))
  report({ event: "connection", id })
  socket.on("data", (chunk) => {
    appendFileSync(file, chunk)
    bytes += chunk.length
    report({ event: "data", id, bytes })
  })
  socket.on("end", () => report({ event: "end", id }))
  socket.on("error", (error) => report({ event: "error", id, code: error.code ?? String(error) }))
  socket.on("close", () => report({ event: "close", id }))
})
// The test process holds our stdin: once it is gone, so are we.
process.stdin.on("close", () => process.exit(0))
process.stdin.resume()

server.listen({ host, port: 0 }, () => report({ event: "listening", port: server.address().port }))

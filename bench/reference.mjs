// The plain-Node reference fan-out the proxy is measured against: the simplest
// correct `net` implementation. Every source gets its own connection to every
// destination; each chunk is written to all of them; the source is paused while
// any destination pushes back and resumed once all have drained. No redial, no
// buffering bound, no timeouts: none of the proxy's guarantees, just the speed.
//   node bench/reference.mjs --listen 127.0.0.1:0 --dest 127.0.0.1:9001 [--dest ...]
import * as net from "node:net"

const args = process.argv.slice(2)
const valueOf = (flag) => args.flatMap((arg, i) => (arg === flag ? [args[i + 1]] : []))
const parse = (text) => {
  const at = text.lastIndexOf(":")
  return { host: text.slice(0, at), port: Number(text.slice(at + 1)) }
}
const listen = parse(valueOf("--listen")[0] ?? "127.0.0.1:0")
const destinations = valueOf("--dest").map(parse)
const options = { noDelay: true, keepAlive: true }

const server = net.createServer(options, (source) => {
  let waiting = 0
  const resume = () => {
    if (--waiting === 0) source.resume()
  }
  const outs = destinations.map(({ host, port }) => {
    const out = net.connect({ host, port, ...options })
    out.on("drain", resume)
    out.on("data", () => {})
    out.on("error", () => source.destroy())
    return out
  })
  source.on("data", (chunk) => {
    for (const out of outs) {
      if (!out.write(chunk)) waiting++
    }
    if (waiting > 0) source.pause()
  })
  source.on("end", () => {
    for (const out of outs) out.end()
  })
  source.on("error", () => {
    for (const out of outs) out.destroy()
  })
  source.on("close", () => {
    for (const out of outs) if (!out.writableEnded) out.end()
  })
})
server.listen({ ...listen, backlog: 4096 }, () => {
  const { address, port } = server.address()
  process.stdout.write(`listening on ${address}:${port}\n`)
})
process.on("SIGTERM", () => process.exit(0))

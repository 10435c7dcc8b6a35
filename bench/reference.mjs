// The plain-Node reference fan-out the proxy is measured against: the simplest
// correct `net` implementation. Every source gets its own connection to every
// destination; each chunk is written to all of them; the source is paused while
// any destination pushes back and resumed once all have drained. No redial, no
// buffering bound, no timeouts: none of the proxy's guarantees, just the speed.
//   node bench/reference.mjs --listen 127.0.0.1:0 --dest 127.0.0.1:9001 [--dest ...]
// TLS, the same fan-out with `tls` in place of `net` where asked (the bench's "over TLS" line):
//   --tls-cert FILE --tls-key FILE   the listener is tls.createServer (sources speak TLS)
//   --dest tls://HOST:PORT           that destination is dialled with tls.connect, its
//   --dest-ca FILE                   certificate verified against these CAs (else the system's)
import { readFileSync } from "node:fs"
import * as net from "node:net"
import * as tls from "node:tls"

const args = process.argv.slice(2)
const valueOf = (flag) => args.flatMap((arg, i) => (arg === flag ? [args[i + 1]] : []))
const parse = (text) => {
  const secure = text.startsWith("tls://")
  const address = secure ? text.slice("tls://".length) : text
  const at = address.lastIndexOf(":")
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)), secure }
}
const fileOf = (flag) => {
  const file = valueOf(flag)[0]
  return file === undefined ? undefined : readFileSync(file)
}
const listen = parse(valueOf("--listen")[0] ?? "127.0.0.1:0")
const destinations = valueOf("--dest").map(parse)
const options = { noDelay: true, keepAlive: true }
const [cert, key, ca] = [fileOf("--tls-cert"), fileOf("--tls-key"), fileOf("--dest-ca")]

const dial = ({ host, port, secure }) => {
  if (!secure) return net.connect({ host, port, ...options })
  const out = tls.connect({ host, port, ca, rejectUnauthorized: true })
  out.setNoDelay(true)
  out.setKeepAlive(true)
  return out
}

const onSource = (source) => {
  let waiting = 0
  const resume = () => {
    if (--waiting === 0) source.resume()
  }
  const outs = destinations.map((destination) => {
    const out = dial(destination)
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
}
const server = cert === undefined
  ? net.createServer(options, onSource)
  : tls.createServer({ ...options, cert, key }, onSource)
server.listen({ ...listen, backlog: 4096 }, () => {
  const { address, port } = server.address()
  process.stdout.write(`listening on ${address}:${port}\n`)
})
process.on("SIGTERM", () => process.exit(0))

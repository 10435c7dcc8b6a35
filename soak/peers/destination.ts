/**
 * A soak destination, run as its own process so the soak can SIGKILL it: it
 * accepts the proxy's connections on a given port and checks each one's stream
 * with a `StreamChecker`. It reports violations at once, and each connection's
 * segment when it closes. On command it misbehaves: resets mid-write, stalls,
 * half-closes.
 *
 * Plain `node:net` on purpose: a peer is a test fixture whose only job is socket
 * events; it shares no code with the proxy's socket layer.
 */
import * as net from "node:net"
import { StreamChecker } from "../../test/support/Records.js"
import { resetSocket } from "../../test/support/Reset.js"
import type { DestinationCommand, DestinationSettings } from "./Wire.js"
import { emit, forEachLine, settingsVariable } from "./Wire.js"

const settings = JSON.parse(process.env[settingsVariable] ?? "{}") as DestinationSettings

interface Open {
  readonly socket: net.Socket
  readonly checker: StreamChecker
  faulted: boolean
  /** The proxy's FIN arrived (not a reset, not an error). */
  ended: boolean
  failed: boolean
}

const open = new Map<number, Open>()
let accepted = 0
let stalledUntil = 0

const server = net.createServer({ pauseOnConnect: true }, (socket) => {
  const id = ++accepted
  const connection: Open = {
    socket,
    checker: new StreamChecker(`destination port ${settings.port} connection ${id}`, settings.framed === true),
    faulted: false,
    ended: false,
    failed: false
  }
  open.set(id, connection)
  socket.on("data", (chunk: Buffer) => {
    const before = connection.checker.violation
    connection.checker.push(chunk)
    const after = connection.checker.violation
    if (before === undefined && after !== undefined) emit({ e: "violation", message: after })
  })
  socket.on("end", () => {
    connection.ended = true
  })
  socket.on("error", () => {
    connection.failed = true
  })
  socket.on("close", () => {
    open.delete(id)
    emit({
      e: "segment",
      connection: id,
      faulted: connection.faulted,
      clean: connection.ended && !connection.failed,
      ...connection.checker.segment()
    })
  })
  if (Date.now() < stalledUntil) connection.faulted = true
  else socket.resume()
})

server.on("error", (error) => {
  process.stderr.write(`destination: ${error.message}\n`)
  process.exit(1)
})
server.listen({ host: settings.host, port: settings.port }, () => {
  emit({ e: "listening", port: (server.address() as net.AddressInfo).port })
})

const command = (command: DestinationCommand) => {
  switch (command.cmd) {
    case "reset":
      for (const connection of open.values()) {
        connection.faulted = true
        resetSocket(connection.socket)
      }
      return
    case "halfclose":
      for (const connection of open.values()) {
        connection.faulted = true
        connection.socket.end()
      }
      return
    case "stall":
      stalledUntil = Date.now() + command.ms
      for (const connection of open.values()) {
        connection.faulted = true
        connection.socket.pause()
      }
      setTimeout(() => {
        for (const connection of open.values()) if (!connection.socket.destroyed) connection.socket.resume()
      }, command.ms)
      return
  }
}

forEachLine(process.stdin, (line) => command(JSON.parse(line) as DestinationCommand))
// The harness going away is our end too.
process.stdin.on("end", () => process.exit(0))

setInterval(() => {
  const progress: Array<readonly [number, number]> = []
  for (const connection of open.values()) {
    const sourceId = connection.checker.sourceId
    if (sourceId !== undefined) progress.push([sourceId, connection.checker.endOffset])
  }
  emit({ e: "progress", open: progress, connections: open.size })
}, 250)

/**
 * Soak sources, run as one process per group so the soak can SIGKILL a group:
 * `connections` connections to the proxy, each sending records (see
 * `test/support/Records.ts`) at a steady rate with a fresh source id, and
 * reconnecting, with a new id, whenever it is closed. On command some vanish
 * (reset), half-close, open and send nothing, or come in bursts.
 *
 * Plain `node:net` on purpose: a peer is a test fixture whose only job is socket
 * events; it shares no code with the proxy's socket layer.
 */
import * as net from "node:net"
import { RecordWriter } from "../../test/support/Records.js"
import { resetSocket } from "../../test/support/Reset.js"
import type { SourceCommand, SourceSettings } from "./Wire.js"
import { emit, forEachLine, settingsVariable } from "./Wire.js"

const settings = JSON.parse(process.env[settingsVariable] ?? "{}") as SourceSettings
const tickMillis = 50
const recordsPerTick = Math.max(1, Math.round((settings.recordsPerSecond * tickMillis) / 1000))

interface Slot {
  socket: net.Socket | undefined
  writer: RecordWriter | undefined
  written: number
  /** Half-closed by us: every byte written was handed over before the FIN. */
  ending: boolean
  blocked: boolean
  /** Framed: the rest of a record cut in two, sent on the next tick (or before the FIN). */
  rest: Uint8Array | undefined
}

/** Half-closes after the rest of a cut record: a source that ends cleanly ends at a record boundary. */
const endSlot = (slot: Slot) => {
  slot.ending = true
  if (slot.rest !== undefined && slot.socket !== undefined) {
    slot.written += slot.rest.length
    slot.socket.write(slot.rest)
  }
  slot.rest = undefined
  slot.socket?.end()
}

let nextId = settings.idBase
let nextAddress = 0
/** A local address of its own for each connection (65,000 of them before one comes back). */
const localAddress = () => {
  const n = nextAddress++ % 65_000
  return `127.${settings.localNet}.${Math.floor(n / 250) + 1}.${(n % 250) + 1}`
}
let stopping = false
const slots: Array<Slot> = []

const connectSlot = (slot: Slot) => {
  if (stopping) return
  const socket = net.connect({ host: settings.host, port: settings.port, localAddress: localAddress() })
  socket.setNoDelay(true)
  slot.socket = socket
  slot.writer = undefined
  slot.written = 0
  slot.ending = false
  slot.blocked = false
  slot.rest = undefined
  let connected = false
  socket.on("connect", () => {
    connected = true
    slot.writer = new RecordWriter(nextId++, settings.framed === true)
    emit({
      e: "connected",
      id: slot.writer.sourceId,
      address: socket.localAddress ?? "",
      port: socket.localPort ?? 0
    })
  })
  socket.on("data", () => {})
  socket.on("drain", () => {
    slot.blocked = false
  })
  socket.on("error", () => {})
  socket.on("close", (hadError) => {
    if (connected && slot.writer !== undefined) {
      emit({ e: "closed", id: slot.writer.sourceId, written: slot.written, clean: slot.ending && !hadError })
    }
    slot.socket = undefined
    slot.writer = undefined
    if (stopping) {
      if (slots.every((s) => s.socket === undefined)) {
        emit({ e: "stopped" })
      }
      return
    }
    setTimeout(() => connectSlot(slot), (connected ? 100 : 200) + Math.random() * 200)
  })
}

const openSlots = () => slots.filter((slot) => slot.socket !== undefined && slot.writer !== undefined && !slot.ending)

const pick = (n: number): Array<Slot> => openSlots().sort(() => Math.random() - 0.5).slice(0, n)

const extraConnection = (closeAfterMillis: number) => {
  const socket = net.connect({ host: settings.host, port: settings.port })
  socket.on("error", () => {})
  socket.on("connect", () => {
    if (closeAfterMillis === 0) socket.end()
    else setTimeout(() => socket.end(), closeAfterMillis)
  })
}

const command = (command: SourceCommand) => {
  switch (command.cmd) {
    case "vanish":
      for (const slot of pick(command.n)) if (slot.socket !== undefined) resetSocket(slot.socket)
      return
    case "halfclose":
      for (const slot of pick(command.n)) endSlot(slot)
      return
    case "silent":
      for (let i = 0; i < command.n; i++) extraConnection(command.ms)
      return
    case "burst":
      for (let i = 0; i < command.n; i++) extraConnection(0)
      return
    case "stop":
      stopping = true
      for (const slot of slots) {
        if (slot.socket === undefined) continue
        if (slot.writer === undefined) slot.socket.destroy()
        else endSlot(slot)
      }
      if (slots.every((s) => s.socket === undefined)) emit({ e: "stopped" })
      return
  }
}

for (let i = 0; i < settings.connections; i++) {
  const slot: Slot = {
    socket: undefined,
    writer: undefined,
    written: 0,
    ending: false,
    blocked: false,
    rest: undefined
  }
  slots.push(slot)
  connectSlot(slot)
}

setInterval(() => {
  for (const slot of openSlots()) {
    if (slot.blocked) continue
    // Framed, the tick's last record is cut at a random point and its rest sent a tick later, so
    // the proxy often reads a chunk that ends inside a record: the case a framing bug breaks.
    if (slot.rest !== undefined) {
      const rest = slot.rest
      slot.rest = undefined
      slot.written += rest.length
      if (!slot.socket!.write(rest)) {
        slot.blocked = true
        continue
      }
    }
    for (let i = 0; i < recordsPerTick; i++) {
      const record = slot.writer!.next(Math.random() * 2 * settings.meanPayload)
      const cut = settings.framed === true && i === recordsPerTick - 1
        ? 1 + Math.floor(Math.random() * (record.length - 1))
        : record.length
      if (cut < record.length) slot.rest = record.subarray(cut)
      slot.written += cut
      if (!slot.socket!.write(cut < record.length ? record.subarray(0, cut) : record)) {
        slot.blocked = true
        break
      }
    }
  }
}, tickMillis)

setInterval(() => {
  emit({ e: "progress", written: openSlots().map((slot) => [slot.writer!.sourceId, slot.written] as const) })
}, 250)

forEachLine(process.stdin, (line) => command(JSON.parse(line) as SourceCommand))
process.stdin.on("end", () => process.exit(0))

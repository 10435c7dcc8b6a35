/** What the kernel says about a process: its open sockets, its memory, its children. */
import * as fs from "node:fs"

/** Open socket descriptors of `pid` (`/proc/PID/fd` entries pointing at `socket:[...]`). */
export const openSockets = (pid: number): number => {
  let sockets = 0
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:")) sockets++
    } catch {
      // Closed while we looked.
    }
  }
  return sockets
}

/** Resident memory of `pid`, in bytes. */
export const residentBytes = (pid: number): number => {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
  const match = status.match(/^VmRSS:\s+(\d+)\s+kB/m)
  return match === null ? 0 : Number(match[1]) * 1024
}

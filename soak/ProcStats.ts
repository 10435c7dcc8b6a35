/** What the kernel says about a process: its open sockets, its memory, its children. */
import * as fs from "node:fs"

/** Open TCP socket descriptors of `pid` (`/proc/PID/fd` entries pointing at a socket of `/proc/PID/net/tcp{,6}`). */
export const openSockets = (pid: number): number => {
  // TCP sockets only: pipes to child processes (esbuild's service, started and stopped
  // by tsx as it compiles) are Unix sockets too, and come and go on their own.
  const tcp = new Set<string>()
  for (const table of ["tcp", "tcp6"]) {
    try {
      for (const line of fs.readFileSync(`/proc/${pid}/net/${table}`, "utf8").split("\n").slice(1)) {
        const inode = line.trim().split(/\s+/)[9]
        if (inode !== undefined) tcp.add(inode)
      }
    } catch {
      // No IPv6 on this machine.
    }
  }
  let sockets = 0
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`)
      if (link.startsWith("socket:[") && tcp.has(link.slice(8, -1))) sockets++
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

// CPU time, memory and system-call counts of another process, from /proc (Linux).
import { readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs"

const ticksPerSecond = 100

/** The fields of `/proc/PID/stat` after the command name (field 3 is index 0), or undefined. */
const statFields = (pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  } catch {
    return undefined
  }
}

/** User + system CPU seconds the process has used so far. */
export const cpuSeconds = (pid) => {
  const fields = statFields(pid)
  return fields === undefined ? Number.NaN : (Number(fields[11]) + Number(fields[12])) / ticksPerSecond
}

/**
 * System CPU seconds (time in the kernel on the process's behalf) and minor page
 * faults (pages the kernel had to map in fresh, e.g. after the allocator gave memory
 * back) so far; NaN where unreadable.
 */
export const kernelCounters = (pid) => {
  const fields = statFields(pid)
  return fields === undefined
    ? { systemSeconds: Number.NaN, minorFaults: Number.NaN }
    : { systemSeconds: Number(fields[12]) / ticksPerSecond, minorFaults: Number(fields[7]) }
}

const statusField = (pid, name) => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)
    return match ? Number(match[1]) * 1024 : Number.NaN
  } catch {
    return Number.NaN
  }
}

/** Resident memory now, in bytes. */
export const rss = (pid) => statusField(pid, "VmRSS")
/** Peak resident memory over the process's life, in bytes. */
export const peakRss = (pid) => statusField(pid, "VmHWM")

/**
 * Read and write system calls the process (all its threads) has made so far, from
 * /proc/PID/io: `syscr` counts read/readv/pread..., `syscw` write/writev/pwrite...
 * (libuv reads and writes TCP sockets with exactly those). NaN where unreadable.
 */
export const ioCounters = (pid) => {
  try {
    const text = readFileSync(`/proc/${pid}/io`, "utf8")
    const field = (name) => {
      const match = new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(text)
      return match ? Number(match[1]) : Number.NaN
    }
    return { reads: field("syscr"), writes: field("syscw") }
  } catch {
    return { reads: Number.NaN, writes: Number.NaN }
  }
}

/** The pids of the process's own child processes (over all its threads). */
const childrenOf = (pid) => {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").split(" ").filter((p) => p !== "").map(Number)
    )
  } catch {
    return []
  }
}

const exeOf = (pid) => {
  try {
    return readlinkSync(`/proc/${pid}/exe`)
  } catch {
    return "(gone)"
  }
}

/** The inode of the socket listening on 127.0.0.1:`port` (/proc/net/tcp), or undefined. */
const listeningInode = (port) => {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0")
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/)
    // local address 0100007F:PORT (127.0.0.1), state 0A (LISTEN), inode in field 9
    if (fields[1] === `0100007F:${hexPort}` && fields[3] === "0A") return fields[9]
  }
  return undefined
}

/**
 * Throws unless `pid` is the node process that does the fan-out's I/O: it runs this
 * node binary, it holds the socket listening on 127.0.0.1:`port` itself, and none of
 * its child processes is a node (a wrapper such as a shell, `npx`, the `tsx` CLI or a
 * cluster primary would fail one of these). Other children are allowed: through tsx,
 * esbuild runs as a child while it compiles, and does no socket I/O.
 */
export const assertIsTheNodeProcess = (pid, port) => {
  const node = realpathSync(process.execPath)
  const exe = exeOf(pid)
  if (exe !== node)
    throw new Error(`process ${pid} runs ${exe}, not node: its /proc counters would not be the fan-out's`)
  const inode = listeningInode(port)
  const holds = inode !== undefined &&
    readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`
      } catch {
        return false
      }
    })
  if (!holds)
    throw new Error(
      `process ${pid} does not hold the socket listening on 127.0.0.1:${port}: another process does the I/O`
    )
  const nodeChildren = childrenOf(pid).filter((child) => exeOf(child) === node)
  if (nodeChildren.length > 0) {
    throw new Error(
      `process ${pid} has node child processes (${nodeChildren.join(", ")}): the I/O may happen in one of them`
    )
  }
}

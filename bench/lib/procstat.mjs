// CPU time and memory of another process, from /proc (Linux).
import { readFileSync } from "node:fs"

const ticksPerSecond = 100

/** User + system CPU seconds the process has used so far. */
export const cpuSeconds = (pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond
  } catch {
    return Number.NaN
  }
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

import * as Duration from "effect/Duration"
import * as Either from "effect/Either"

// People write "500ms", "3s", "30m"; Duration.decode only takes "500 millis".
const durationUnits = new Map<string, number>(Object.entries({
  ms: 1,
  millis: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1_000,
  sec: 1_000,
  second: 1_000,
  seconds: 1_000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000
}))

const sizeUnits = new Map<string, number>(Object.entries({
  b: 1,
  kb: 1_000,
  mb: 1_000_000,
  gb: 1_000_000_000,
  k: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3
}))

const quantity = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i

/**
 * Parses a human duration such as `500ms`, `3s`, `30m`, `1.5h` or `0`.
 * A bare number is accepted only for 0, where the unit does not matter.
 */
export const parseDuration = (text: string): Either.Either<Duration.Duration, string> => {
  const match = quantity.exec(text.trim())
  if (match === null) {
    return Either.left("expected a duration such as 500ms, 3s, 30m or 1h")
  }
  const amount = Number(match[1])
  const unit = (match[2] ?? "").toLowerCase()
  if (unit === "") {
    return amount === 0
      ? Either.right(Duration.zero)
      : Either.left(`missing unit: write ${match[1]}ms, ${match[1]}s or ${match[1]}m`)
  }
  const factor = durationUnits.get(unit)
  if (factor === undefined) {
    return Either.left(`unknown unit "${match[2]}": use ms, s, m, h or d`)
  }
  return Either.right(Duration.millis(Math.round(amount * factor)))
}

/** Parses a byte size such as `65536`, `64KiB`, `1MiB` or `1.5MB`. */
export const parseByteSize = (text: string): Either.Either<number, string> => {
  const match = quantity.exec(text.trim())
  if (match === null) {
    return Either.left("expected a size such as 65536, 64KiB or 1MiB")
  }
  const unit = (match[2] ?? "").toLowerCase()
  const factor = unit === "" ? 1 : sizeUnits.get(unit)
  if (factor === undefined) {
    return Either.left(`unknown unit "${match[2]}": use B, KiB, MiB, GiB, KB, MB or GB`)
  }
  return Either.right(Math.floor(Number(match[1]) * factor))
}

/** Formats a byte count the way the size options read it (`1.5 MiB`). */
export const formatBytes = (bytes: number): string => {
  if (bytes < 1024) return `${bytes} B`
  const units = ["KiB", "MiB", "GiB", "TiB"]
  let value = bytes / 1024
  let unit = 0
  // Compare what will be printed, so 1048575 reads "1.0 MiB", not "1024 KiB".
  while (Number(value.toFixed(value < 10 ? 1 : 0)) >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`
}

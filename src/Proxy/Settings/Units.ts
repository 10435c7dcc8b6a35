import * as Duration from "effect/Duration"
import * as Either from "effect/Either"

/*
 * The spellings accepted, exactly (documented in docs/settings.md, said in every error):
 *   duration  a number, then one of ms, s, m, h, d, with nothing between: 500ms, 3s, 1.5s, 30m, 1h, 1d;
 *             or 0 alone. Lower case only; no spaces, no words ("5 seconds"), no sign.
 *   size      a whole number of bytes (65536), or a number then one of B, KiB, MiB, GiB (powers
 *             of 1024) or KB, MB, GB (powers of 1000): 64KiB, 1MiB, 1.5MB. Units as written here.
 */

const durationUnits: ReadonlyMap<string, number> = new Map([
  ["ms", 1],
  ["s", 1_000],
  ["m", 60_000],
  ["h", 3_600_000],
  ["d", 86_400_000]
])

const sizeUnits: ReadonlyMap<string, number> = new Map([
  ["B", 1],
  ["KiB", 1024],
  ["MiB", 1024 ** 2],
  ["GiB", 1024 ** 3],
  ["KB", 1_000],
  ["MB", 1_000_000],
  ["GB", 1_000_000_000]
])

/** What a duration may look like, for error messages and help. */
export const durationSpelling = "a duration: a number and one of ms, s, m, h, d (500ms, 3s, 30m, 1h), or 0"
/** What a size may look like, for error messages and help. */
export const sizeSpelling = "a size: bytes (65536), or a number and one of B, KiB, MiB, GiB, KB, MB, GB (64KiB, 1MiB)"

const quantity = /^(\d+(?:\.\d+)?)([A-Za-z]*)$/

/** Parses a duration such as `500ms`, `3s`, `30m`, `1.5h` or `0` (see the spellings above). */
export const parseDuration = (text: string): Either.Either<Duration.Duration, string> => {
  const match = quantity.exec(text.trim())
  if (match === null) return Either.left(`expected ${durationSpelling}`)
  const amount = Number(match[1])
  const unit = match[2] ?? ""
  if (unit === "") {
    return amount === 0
      ? Either.right(Duration.zero)
      : Either.left(`missing unit: write ${match[1]}ms, ${match[1]}s or ${match[1]}m`)
  }
  const factor = durationUnits.get(unit)
  if (factor === undefined) return Either.left(`unknown unit "${unit}": expected ${durationSpelling}`)
  return Either.right(Duration.millis(Math.round(amount * factor)))
}

/** Parses a byte size such as `65536`, `64KiB`, `1MiB` or `1.5MB` (see the spellings above). */
export const parseByteSize = (text: string): Either.Either<number, string> => {
  const match = quantity.exec(text.trim())
  if (match === null) return Either.left(`expected ${sizeSpelling}`)
  const unit = match[2] ?? ""
  const factor = unit === "" ? 1 : sizeUnits.get(unit)
  if (factor === undefined) return Either.left(`unknown unit "${unit}": expected ${sizeSpelling}`)
  if (unit === "" && !/^\d+$/.test(match[1]!))
    return Either.left(`a number of bytes is whole: expected ${sizeSpelling}`)
  return Either.right(Math.floor(Number(match[1]) * factor))
}

/** Formats a byte count the way the logs show it (`1.5 MiB`). */
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

/** Formats a size as a setting is written (`1MiB`, `64KiB`, `1000`): exact, and it parses back. */
export const formatSize = (bytes: number): string => {
  for (const [unit, factor] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`
  }
  return String(bytes)
}

/** Formats a duration as a setting is written (`3s`, `30m`, `1500ms`, `0`): exact, and it parses back. */
export const formatDuration = (duration: Duration.Duration): string => {
  const millis = Duration.toMillis(duration)
  if (millis === 0) return "0"
  for (const [unit, factor] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1_000]] as const) {
    if (millis % factor === 0) return `${millis / factor}${unit}`
  }
  return `${millis}ms`
}

import { describe, expect, it } from "@effect/vitest"
import { Duration, Either } from "effect"
import { formatBytes, formatDuration, formatSize, parseByteSize, parseDuration } from "../src/Proxy/Settings/Units.js"

const KiB = 1024
const MiB = 1024 ** 2
const GiB = 1024 ** 3

const millisOf = (text: string): number => Duration.toMillis(Either.getOrThrow(parseDuration(text)))

describe("parseDuration", () => {
  it.each([
    { text: "500ms", millis: 500 },
    { text: "3s", millis: 3_000 },
    { text: "30m", millis: 30 * 60_000 },
    { text: "1h", millis: 3_600_000 },
    { text: "1d", millis: 86_400_000 },
    { text: "1.5s", millis: 1_500 },
    { text: "0.5m", millis: 30_000 },
    { text: "0", millis: 0 },
    { text: "0s", millis: 0 },
    { text: "250ms", millis: 250 },
    { text: "  3s  ", millis: 3_000 }
  ])("reads $text as $millis ms", ({ millis, text }) => {
    expect(millisOf(text)).toBe(millis)
  })

  it.each([
    "",
    "   ",
    "abc",
    "s",
    "5",
    "1.5",
    "5x",
    "5 fortnights",
    "-1s",
    "1.s",
    ".5s",
    "1e3s",
    "5s extra",
    // Only the documented spellings: a number and ms, s, m, h or d, nothing between, lower case.
    "5 seconds",
    "5sec",
    "5S",
    "2 minutes",
    "250 millis",
    "3 s",
    "1H"
  ])(
    "rejects %j",
    (text) => {
      expect(Either.getOrUndefined(parseDuration(text))).toBeUndefined()
    }
  )

  it("explains a missing unit and an unknown one", () => {
    expect(parseDuration("5")).toStrictEqual(Either.left("missing unit: write 5ms, 5s or 5m"))
    expect(Either.merge(parseDuration("5x"))).toContain(`unknown unit "x"`)
    expect(Either.merge(parseDuration("abc"))).toContain("expected a duration")
  })

  // BUG: units are looked up in a plain object literal, so Object.prototype members
  // such as "constructor" count as units; "5constructor" parses as a zero duration.
  it("rejects unit names inherited from Object.prototype", () => {
    expect(Either.getOrUndefined(parseDuration("5constructor"))).toBeUndefined()
  })
})

describe("parseByteSize", () => {
  it.each([
    { text: "65536", bytes: 65_536 },
    { text: "0", bytes: 0 },
    { text: "512B", bytes: 512 },
    { text: "64KiB", bytes: 64 * KiB },
    { text: "1MiB", bytes: MiB },
    { text: "2GiB", bytes: 2 * GiB },
    { text: "1.5MB", bytes: 1_500_000 },
    { text: "1KB", bytes: 1_000 },
    { text: "1GB", bytes: 1_000_000_000 },
    { text: "1.5MiB", bytes: 1.5 * MiB },
    { text: " 64KiB ", bytes: 64 * KiB }
  ])("reads $text as $bytes bytes", ({ bytes, text }) => {
    expect(Either.getOrThrow(parseByteSize(text))).toBe(bytes)
  })

  it.each([
    "",
    "abc",
    "1XB",
    "1 TB",
    "-5",
    "KiB",
    "1e6",
    "1,000",
    "1.5",
    // Only the documented spellings: units as written (KiB, MiB, ...), nothing between.
    "1M",
    "1K",
    "1k",
    "1mib",
    "64kib",
    "512b",
    "2 GiB",
    "1.5 MiB"
  ])("rejects %j", (text) => {
    expect(Either.getOrUndefined(parseByteSize(text))).toBeUndefined()
  })

  it("explains an unknown unit", () => {
    expect(Either.merge(parseByteSize("1XB"))).toContain(`unknown unit "XB"`)
    expect(Either.merge(parseByteSize("abc"))).toContain("expected a size")
  })

  // BUG: same Object.prototype lookup as parseDuration; "1constructor" parses as NaN bytes.
  it("rejects unit names inherited from Object.prototype", () => {
    expect(Either.getOrUndefined(parseByteSize("1constructor"))).toBeUndefined()
  })
})

describe("formatBytes", () => {
  it.each([
    { bytes: 0, text: "0 B" },
    { bytes: 1023, text: "1023 B" },
    { bytes: KiB, text: "1.0 KiB" },
    { bytes: 1536, text: "1.5 KiB" },
    { bytes: 64 * KiB, text: "64 KiB" },
    { bytes: MiB, text: "1.0 MiB" },
    { bytes: 1.5 * MiB, text: "1.5 MiB" },
    { bytes: 512 * MiB, text: "512 MiB" },
    { bytes: GiB, text: "1.0 GiB" },
    { bytes: 2 * 1024 ** 4, text: "2.0 TiB" },
    { bytes: 1024 ** 5, text: "1024 TiB" }
  ])("formats $bytes as $text", ({ bytes, text }) => {
    expect(formatBytes(bytes)).toBe(text)
  })

  it.each([512, KiB, 1536, 64 * KiB, MiB, 1.5 * MiB, GiB])("formatSize of %i parses back to the same size", (bytes) => {
    expect(Either.getOrThrow(parseByteSize(formatSize(bytes)))).toBe(bytes)
  })
})

describe("formatDuration", () => {
  it.each(["0", "500ms", "1500ms", "3s", "30m", "1h", "2d"])("writes %s back as itself", (text) => {
    expect(formatDuration(Either.getOrThrow(parseDuration(text)))).toBe(text)
  })
})

import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { firstRedialDelay, maxRedialDelay, redialDelay, tooSlowRedialDelay } from "../src/Proxy/DataPath/Backoff.js"

const samples = (failures: number) =>
  Effect.forEach(Array.from({ length: 200 }), () => Effect.map(redialDelay(failures), Duration.toMillis))

describe("redial backoff", () => {
  it.effect("the first retry is fast", () =>
    Effect.gen(function*() {
      for (const delay of yield* samples(1)) {
        expect(delay).toBeLessThanOrEqual(Duration.toMillis(firstRedialDelay))
        expect(delay).toBeGreaterThanOrEqual(Duration.toMillis(firstRedialDelay) / 2)
      }
    }))

  it.effect("grows exponentially and is capped at about 1 s", () =>
    Effect.gen(function*() {
      const medians = []
      for (const failures of [1, 2, 3, 4, 5]) {
        const sorted = [...(yield* samples(failures))].sort((a, b) => a - b)
        medians.push(sorted[100]!)
      }
      for (let i = 1; i < medians.length; i++) expect(medians[i]!).toBeGreaterThan(medians[i - 1]!)
      for (const failures of [6, 10, 1000]) {
        for (const delay of yield* samples(failures)) {
          expect(delay).toBeLessThanOrEqual(Duration.toMillis(maxRedialDelay))
          expect(delay).toBeGreaterThanOrEqual(Duration.toMillis(maxRedialDelay) / 2)
        }
      }
    }))

  it.effect("is jittered, so connections that lost the same destination do not redial in lockstep", () =>
    Effect.gen(function*() {
      expect(new Set(yield* samples(10)).size).toBeGreaterThan(50)
    }))

  it.effect("a destination cut for being too slow is redialled after one to two --write-timeouts, jittered", () =>
    Effect.gen(function*() {
      const writeTimeout = Duration.seconds(2)
      const delays = yield* Effect.forEach(
        Array.from({ length: 200 }),
        () => Effect.map(tooSlowRedialDelay(writeTimeout), Duration.toMillis)
      )
      for (const delay of delays) {
        expect(delay).toBeGreaterThanOrEqual(2000)
        expect(delay).toBeLessThanOrEqual(4000)
      }
      expect(new Set(delays).size).toBeGreaterThan(50)
    }))
})

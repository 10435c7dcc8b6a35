import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Logger, TestClock } from "effect"
import { DestinationHealth } from "../src/Proxy/DestinationHealth.js"

/** Runs `effect` with a logger that collects messages instead of printing them. */
const collectingLogs = <A, E>(effect: (lines: Array<string>) => Effect.Effect<A, E>) => {
  const lines: Array<string> = []
  const logger = Logger.make(({ message }) => {
    lines.push(String(Array.isArray(message) ? message.join(" ") : message))
  })
  return effect(lines).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
}

describe("destination up/down logging", () => {
  it.effect("logs the first failure, then a reminder at most every 30 s, then the recovery", () =>
    collectingLogs((lines) =>
      Effect.gen(function*() {
        const health = new DestinationHealth("127.0.0.1:8080")
        yield* health.reportUp()
        expect(lines).toEqual(["destination 127.0.0.1:8080 is up"])
        health.reportDisconnected()
        // A thousand connections fail over and over for 65 s.
        for (let second = 0; second < 65; second++) {
          for (let connection = 0; connection < 1000; connection++) {
            yield* health.reportDown("connection refused (ECONNREFUSED)")
          }
          yield* TestClock.adjust(Duration.seconds(1))
        }
        expect(lines.slice(1)).toEqual([
          "destination 127.0.0.1:8080 is down: connection refused (ECONNREFUSED); redialling",
          expect.stringMatching(/still down after 30s .*: connection refused/),
          expect.stringMatching(/still down after 1m .*: connection refused/)
        ])
        expect(health.state).toBe("down")
        yield* health.reportUp()
        yield* health.reportUp()
        expect(lines.at(-1)).toBe("destination 127.0.0.1:8080 is up again after 1m 5s")
        expect(lines).toHaveLength(5)
        expect(health.connected).toBe(2)
      })))
})

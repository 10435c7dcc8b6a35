import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Logger, TestClock } from "effect"
import { DestinationHealth } from "../src/Proxy/Observability/DestinationHealth.js"

/** Runs `effect` with a logger that collects messages instead of printing them. */
const collectingLogs = <A, E>(effect: (lines: Array<string>) => Effect.Effect<A, E>) => {
  const lines: Array<string> = []
  const logger = Logger.make(({ message }) => {
    lines.push(String(Array.isArray(message) ? message.join(" ") : message))
  })
  return effect(lines).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
}

const refused = "connection refused (ECONNREFUSED)"

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
          for (let connection = 0; connection < 1000; connection++) yield* health.reportDown("down", refused)
          yield* TestClock.adjust(Duration.seconds(1))
        }
        expect(lines.slice(1)).toEqual([
          `destination 127.0.0.1:8080 is down: ${refused}; redialling`,
          expect.stringMatching(/still down after 30s \(30000 failed attempts .*\): connection refused/),
          expect.stringMatching(/still down after 1m \(30000 failed attempts .*\): connection refused/)
        ])
        expect(health.state).toBe("down")
        yield* health.reportUp()
        yield* health.reportUp()
        expect(lines.at(-1)).toBe("destination 127.0.0.1:8080 is up again after 1m 5s")
        expect(lines).toHaveLength(5)
        expect(health.connected).toBe(2)
      })
    ))

  it.effect("a destination that accepts and closes at once, for many connections, logs a few lines per 30 s", () =>
    collectingLogs((lines) =>
      Effect.gen(function*() {
        const health = new DestinationHealth("lb:80")
        for (let tick = 0; tick < 600; tick++) {
          for (let connection = 0; connection < 5; connection++) {
            yield* health.reportUp()
            health.reportDisconnected()
            yield* health.reportDown("down", "closed by peer")
          }
          yield* TestClock.adjust(Duration.millis(100))
        }
        // 60 s of flapping: the first "up", then per 30 s one failure line and one recovery.
        expect(lines.length).toBeLessThanOrEqual(7)
        expect(lines[0]).toBe("destination lb:80 is up")
        expect(lines[1]).toBe("destination lb:80 is down: closed by peer; redialling")
        expect(lines[2]).toBe("destination lb:80 is up again after 0ms")
        expect(lines).toContainEqual(
          expect.stringMatching(/is down: closed by peer; redialling \(\d+ failures since the last report\)/)
        )
        expect(health.connected).toBe(0)
      })
    ))

  it.effect("a destination cut for being too slow is not called down", () =>
    collectingLogs((lines) =>
      Effect.gen(function*() {
        const health = new DestinationHealth("slow:80")
        yield* health.reportUp()
        yield* health.reportDown("too slow", "it held the source back for 5s")
        expect(lines.at(-1)).toBe(
          "destination slow:80 cannot keep up: it held the source back for 5s; cut and redialling"
        )
      })
    ))
})

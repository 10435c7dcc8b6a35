import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"

/** The first redial after a failure comes this fast; each further failure doubles it. */
export const firstRedialDelay = Duration.millis(50)
/** Redials of a destination that stays down are spaced at most this far apart. */
export const maxRedialDelay = Duration.seconds(1)

/**
 * Delay before redial number `failures` (1 = right after the first failure):
 * exponential, capped, with "equal jitter" (between half and all of the step),
 * so many connections that lost the same destination do not redial in lockstep.
 */
export const redialDelay = (failures: number): Effect.Effect<Duration.Duration> =>
  Effect.map(Random.next, (random) => {
    const step = Math.min(
      Duration.toMillis(maxRedialDelay),
      Duration.toMillis(firstRedialDelay) * 2 ** Math.min(30, Math.max(0, failures - 1))
    )
    return Duration.millis(Math.round(step / 2 + (random * step) / 2))
  })

/**
 * Delay before redialling a destination that was just cut for being too slow:
 * between one and two `writeTimeout`s (jittered). Each new connection to a
 * destination that stays stalled swallows what the kernel buffers hold and then
 * holds the source back for a tenth of `writeTimeout` before it is cut again;
 * spacing the attempts at least `writeTimeout` apart keeps that under a tenth of
 * the time, so it costs the others next to nothing.
 */
export const tooSlowRedialDelay = (writeTimeout: Duration.Duration): Effect.Effect<Duration.Duration> =>
  Effect.map(Random.next, (random) => Duration.millis(Math.round(Duration.toMillis(writeTimeout) * (1 + random))))

import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type { Scope } from "effect"

/**
 * Every SIGHUP, as an item of a queue, for as long as the scope is open. While a
 * listener is installed Node does not end the process on SIGHUP (its default).
 */
export const sighups: Effect.Effect<Queue.Dequeue<"SIGHUP">, never, Scope.Scope> = Effect.gen(function*() {
  const queue = yield* Effect.acquireRelease(Queue.sliding<"SIGHUP">(16), Queue.shutdown)
  const onHup = () => {
    Queue.unsafeOffer(queue, "SIGHUP")
  }
  yield* Effect.acquireRelease(
    Effect.sync(() => process.on("SIGHUP", onHup)),
    () => Effect.sync(() => process.off("SIGHUP", onHup))
  )
  return queue
})

/**
 * Without a configuration file, SIGHUP reloads what there is to reload (the
 * certificate files, with TLS), once `reload` is given; until then, and without
 * TLS, each SIGHUP is logged and ignored, never fatal. Returns the setter.
 */
export const sighupWithoutFile: Effect.Effect<(reload: Effect.Effect<void>) => void, never, Scope.Scope> = Effect
  .flatMap(
    sighups,
    (queue) => {
      let reload: Effect.Effect<void> | undefined
      const ignored = Effect.logWarning("SIGHUP: no configuration file to reload (start with --config FILE); ignored")
      return Effect.as(
        Effect.forkScoped(Effect.forever(
          Effect.zipRight(Queue.take(queue), Effect.suspend(() => reload ?? ignored))
        )),
        (given: Effect.Effect<void>) => {
          reload = given
        }
      )
    }
  )

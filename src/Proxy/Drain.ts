import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/**
 * Shutdown's first step: close every open source, so each session reads what
 * its source had already sent, flushes it and ends as it would on EOF. Sessions
 * register their source here for as long as they read it.
 */
export class Drain {
  private started = false
  private readonly sources = new Set<Effect.Effect<void>>()

  /** True once shutdown has begun. */
  get draining(): boolean {
    return this.started
  }

  /** Registers a source's close for the scope's lifetime; closes it at once if shutdown has begun. */
  register(close: Effect.Effect<void>): Effect.Effect<void, never, Scope.Scope> {
    return Effect.acquireRelease(
      Effect.suspend(() => (this.started ? close : Effect.sync(() => this.sources.add(close)))),
      () => Effect.sync(() => this.sources.delete(close))
    )
  }

  start(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.started = true
      return Effect.forEach(this.sources, (close) => close, { discard: true })
    })
  }
}

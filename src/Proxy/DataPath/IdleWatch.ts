import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { monotonicMillis } from "./Wakeup.js"

/** A source the watch may close: when it last sent something, and how to close it. */
export interface Watched {
  /** On the clock's monotonic time (`monotonicMillis`). */
  readonly lastActivity: number
  /** Closes the source because it was silent for the idle timeout. */
  closeIdle(): void
}

/**
 * Closes sources that have sent nothing for `idleTimeout`: one fiber for the whole
 * proxy, not a timer or a fiber per source. It sleeps until the earliest moment a
 * watched source could have been silent that long, closes those that were, and
 * sleeps again. Activity only ever moves a source's moment later, and a new source's
 * moment is a whole timeout away, so nothing has to wake it early.
 */
export class IdleWatch {
  private readonly watched = new Set<Watched>()

  constructor(private readonly idleMillis: number) {}

  /** Watches `source` until `unwatch`. */
  watch(source: Watched): void {
    if (this.idleMillis > 0) this.watched.add(source)
  }

  unwatch(source: Watched): void {
    this.watched.delete(source)
  }

  /** The watch itself, to run for the proxy's lifetime; with an idle timeout of 0 it does nothing. */
  readonly run: Effect.Effect<void> = Effect.suspend(() => {
    if (this.idleMillis <= 0) return Effect.void
    return Effect.forever(
      Effect.clockWith((clock) => {
        const now = monotonicMillis(clock)
        return Effect.sleep(Duration.millis(this.sweep(now) - now))
      })
    )
  })

  /** Closes the sources silent for the timeout at `now`; returns when the next one could be. */
  private sweep(now: number): number {
    let next = now + this.idleMillis
    for (const source of this.watched) {
      const due = source.lastActivity + this.idleMillis
      if (due <= now) {
        this.watched.delete(source)
        source.closeIdle()
      } else if (due < next) {
        next = due
      }
    }
    return next
  }
}

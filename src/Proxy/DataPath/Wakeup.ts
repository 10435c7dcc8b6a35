import * as Effect from "effect/Effect"
import type { Clock } from "effect"

/**
 * Milliseconds on `clock`'s monotonic time: what every deadline of the data path
 * is measured in, so a step of the wall clock (NTP, a resumed VM) neither cuts
 * connections nor delays redials. (The TestClock drives it as well.)
 */
export const monotonicMillis = (clock: Clock.Clock): number => Number(clock.unsafeCurrentTimeNanos()) / 1_000_000

/**
 * Where one fiber waits for "something changed, or it is time": the state it
 * watches is plain mutable state changed by socket callbacks, and whoever changes
 * it in a way the fiber must see calls `wake` (or `wakeBy`, with the deadline the
 * change brings). One waiter, one timer at most, no fiber forked to wait: this is
 * what a destination link waits on, so it must cost next to nothing.
 *
 * A timer that fires does not resume the fiber at once but after the event loop
 * has handled the I/O that was ready meanwhile: on a busy machine the proxy may
 * look late, and what a destination did in that time (a write completed, data
 * read) must count before the fiber judges it.
 */
export class Wakeup {
  private resume: ((effect: Effect.Effect<void>) => void) | undefined = undefined
  /** A wake that came while no one waited (the fiber was between its look and its wait): the next wait ends at once. */
  private pending = false
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  /** The deadline of the wait under way; infinite while it waits for a change only. */
  private deadline = Number.POSITIVE_INFINITY

  /**
   * Waits until `wake`, or until `deadline` (on the clock `now` was read from).
   *
   * It gives Effect no canceler, on purpose: a canceler wraps the wait in an
   * `onInterrupt` frame, about 1.5 KiB of heap for every link while it waits. An
   * interrupted waiter needs none: Effect spends its callback when it interrupts the
   * fiber, so a later `resume` is ignored, and the timer goes with the next `wake`
   * (the forwarder's `closed`, which every session's end calls) or fires once, harmlessly.
   */
  waitUntil(deadline: number, now: number): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      if (this.pending) {
        this.pending = false
        resume(Effect.void)
        return
      }
      this.resume = resume
      this.deadline = deadline
      if (deadline !== Number.POSITIVE_INFINITY)
        this.timer = setTimeout(afterPendingIo, Math.max(0, deadline - now), this)
    })
  }

  /** Resumes the waiting fiber, if any. */
  wake(): void {
    const resume = this.resume
    if (resume === undefined) {
      this.pending = true
      return
    }
    this.clear()
    resume(Effect.void)
  }

  /** Resumes the waiting fiber if it means to sleep past `deadline`. */
  wakeBy(deadline: number): void {
    if (this.resume === undefined || deadline < this.deadline) this.wake()
  }

  private clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.resume = undefined
    this.deadline = Number.POSITIVE_INFINITY
  }

  /** @internal */
  fired(): void {
    this.timer = undefined
    // A wait cancelled or replaced meanwhile is woken early at worst: its fiber looks again and waits again.
    setImmediate(wakeAfterIo, this)
  }
}

const afterPendingIo = (wakeup: Wakeup): void => wakeup.fired()
const wakeAfterIo = (wakeup: Wakeup): void => wakeup.wake()

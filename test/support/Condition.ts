import { Effect } from "effect"

/**
 * Lets a fiber wait until a predicate over plain mutable state holds. Whoever
 * changes that state calls `notify`, and each waiter re-checks its predicate.
 * The first check happens inside the wait's registration, so a change can never
 * slip in between "checked" and "started waiting".
 */
export class Condition {
  private readonly waiters = new Set<() => void>()

  waitUntil(predicate: () => boolean): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      if (predicate()) {
        resume(Effect.void)
        return
      }
      const check = () => {
        if (predicate()) {
          this.waiters.delete(check)
          resume(Effect.void)
        }
      }
      this.waiters.add(check)
      return Effect.sync(() => {
        this.waiters.delete(check)
      })
    })
  }

  notify(): void {
    // Called several times per chunk: no copy of the set. A check only ever
    // deletes itself (resuming a fiber runs it later, never in here), which a
    // Set's iteration allows.
    for (const check of this.waiters) check()
  }
}

import * as Effect from "effect/Effect"

/** Something shutdown closes first: a source, whose session then flushes and ends as on EOF. */
export interface Drainable {
  close(): void
}

/**
 * Shutdown's first step: close every open source, so each session reads what
 * its source had already sent, flushes it and ends as it would on EOF. Sessions
 * add their source here for as long as they read it.
 */
export class Drain {
  private started = false
  private readonly sources = new Set<Drainable>()

  /** True once shutdown has begun. */
  get draining(): boolean {
    return this.started
  }

  /** Adds a source until `remove`; closes it at once if shutdown has begun. */
  add(source: Drainable): void {
    if (this.started) source.close()
    else this.sources.add(source)
  }

  remove(source: Drainable): void {
    this.sources.delete(source)
  }

  start(): Effect.Effect<void> {
    return Effect.sync(() => {
      this.started = true
      for (const source of this.sources) source.close()
    })
  }
}

import * as Effect from "effect/Effect"
import * as Supervisor from "effect/Supervisor"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"

/**
 * Counts the fibers started under it that have not ended yet. Installed with
 * `Effect.supervised` around the proxy's accept loop, so every session,
 * forwarder and helper fiber of the proxy is counted: a number that only goes
 * up under steady traffic is a fiber leak. It costs two integer updates per
 * fiber and nothing per step (it leaves `onEffect` alone, so the runtime never
 * switches on per-operation supervision).
 */
export class FiberCounter extends Supervisor.AbstractSupervisor<number> {
  private live = 0

  get active(): number {
    return this.live
  }

  get value(): Effect.Effect<number> {
    return Effect.sync(() => this.live)
  }

  override onStart<A, E, R>(
    _context: unknown,
    _effect: Effect.Effect<A, E, R>,
    _parent: unknown,
    _fiber: Fiber.RuntimeFiber<A, E>
  ): void {
    this.live++
  }

  override onEnd<A, E>(_value: Exit.Exit<A, E>, _fiber: Fiber.RuntimeFiber<A, E>): void {
    this.live--
  }
}

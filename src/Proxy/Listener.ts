import { Duration, Effect, FiberSet } from "effect"
import type { SessionContext } from "./Session.js"
import { runSession } from "./Session.js"
import type { TcpListener } from "./Tcp.js"

/** After a failed accept (such as EMFILE), wait this long so the loop does not spin. */
const acceptRetryDelay = Duration.millis(100)

/**
 * The accept loop: every accepted socket becomes a session fiber in `sessions`.
 * A session that dies of a defect is logged; it never takes the loop or its
 * sibling sessions with it.
 */
export const acceptLoop = (
  listener: TcpListener,
  sessions: FiberSet.FiberSet,
  context: SessionContext
): Effect.Effect<never> =>
  Effect.forever(
    Effect.flatMap(listener.accept, (accepted) =>
      accepted._tag === "Error"
        ? Effect.logError(`accepting a connection failed: ${accepted.reason}`).pipe(
          Effect.zipRight(Effect.sleep(acceptRetryDelay))
        )
        : FiberSet.run(
          sessions,
          runSession(accepted.socket, context).pipe(
            Effect.catchAllCause((cause) => Effect.logError("connection ended by an unexpected error", cause))
          )
        ))
  )

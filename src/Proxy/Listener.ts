import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import type { Admission } from "./Admission.js"
import { diallingOwnConnections } from "./OwnConnections.js"
import type { SessionContext } from "./Session.js"
import { runSession } from "./Session.js"
import type { TcpListener } from "./Tcp.js"
import { peerOf } from "./Tcp.js"

/** One turn of the event loop: the I/O callbacks already due have run. */
const nextTurn = Effect.async<void>((resume) => {
  setImmediate(() => resume(Effect.void))
})

/** After a failed accept (such as EMFILE), wait this long so the loop does not spin. */
const acceptRetryDelay = Duration.millis(100)

/**
 * The accept loop: every accepted socket that `admission` lets in becomes a
 * session fiber in `sessions`; one it refuses is closed at once, before a
 * session or any destination connection exists for it. A session that dies of
 * a defect is logged; it never takes the loop or its sibling sessions with it.
 */
export const acceptLoop = (
  listener: TcpListener,
  sessions: FiberSet.FiberSet,
  context: SessionContext,
  admission: Admission
): Effect.Effect<never> =>
  Effect.forever(
    Effect.flatMap(listener.accept, (accepted) => {
      if (accepted._tag === "Error") {
        return Effect.logError(`accepting a connection failed: ${accepted.reason}`).pipe(
          Effect.zipRight(Effect.sleep(acceptRetryDelay))
        )
      }
      const socket = accepted.socket
      // A connection of the proxy's own may be accepted a turn before it knows its local port: look again then.
      const settled = diallingOwnConnections() ? nextTurn : Effect.void
      return Effect.flatMap(Effect.zipRight(settled, FiberSet.size(sessions)), (open) => {
        const refusal = admission.refusal(socket.remoteAddress, open, socket.remotePort)
        if (refusal !== undefined) {
          const peer = peerOf(socket)
          socket.destroy()
          return admission.refused(refusal, peer)
        }
        return FiberSet.run(
          sessions,
          runSession(socket, context).pipe(
            Effect.catchAllCause((cause) =>
              Effect.annotateLogs(Effect.logError("connection ended by an unexpected error", cause), "peer", peerOf(socket))
            )
          )
        )
      })
    })
  )

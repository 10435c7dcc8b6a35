import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import type * as net from "node:net"
import type { Admission } from "./Admission.js"
import { diallingOwnConnections, isOwnConnection } from "./OwnConnections.js"
import type { RefusalReason } from "../Observability/Stats.js"
import type { Drainable } from "../DataPath/Drain.js"
import type { SessionContext } from "../DataPath/Session.js"
import { runSession } from "../DataPath/Session.js"
import type { TcpListener } from "../DataPath/Tcp.js"
import { peerOf } from "../DataPath/Tcp.js"
import type { Origin } from "../ProxyProtocol/Origin.js"
import { formatAddress, originOf } from "../ProxyProtocol/Origin.js"
import { serverHandshake } from "../Tls/Handshake.js"
import { readHeader } from "../ProxyProtocol/Read.js"

/** One turn of the event loop: the I/O callbacks already due have run. */
const nextTurn = Effect.async<void>((resume) => {
  setImmediate(() => resume(Effect.void))
})

const refuse = (
  admission: Admission,
  socket: net.Socket,
  reason: RefusalReason,
  peer = peerOf(socket),
  problem?: string
): Effect.Effect<void> => {
  socket.destroy()
  return admission.refused(reason, peer, problem)
}

/** Waits for a connection's header or handshake; shutdown closes the connection meanwhile (it has nothing to flush yet). */
const beforeAdmission = <A>(socket: net.Socket, context: SessionContext, wait: Effect.Effect<A>): Effect.Effect<A> => {
  const pending: Drainable = { close: () => socket.destroy() }
  return Effect.acquireUseRelease(
    Effect.sync(() => context.drain.add(pending)),
    () => wait,
    () => Effect.sync(() => context.drain.remove(pending))
  )
}

/**
 * With `--tls-cert`: the TLS handshake (after the PROXY header, as a balancer
 * sends them), then the session over the secure socket. A failed handshake is
 * refused before any destination is dialled.
 */
const secureThenSession = (
  socket: net.Socket,
  admission: Admission,
  context: SessionContext,
  origin: Origin | undefined
): Effect.Effect<void> => {
  const material = context.tls.listener
  if (material === undefined) return runSession(socket, context, origin)
  const known = origin ?? originOf(socket, undefined)
  const peer = known === undefined ? peerOf(socket) : formatAddress(known.source)
  return Effect.flatMap(beforeAdmission(socket, context, serverHandshake(socket, material)), (outcome) => {
    if (outcome._tag === "Secure") return runSession(outcome.socket, context, known)
    if (context.drain.draining) return Effect.sync(() => socket.destroy())
    return refuse(admission, socket, "tls", peer, outcome.reason)
  })
}

/**
 * Behind a balancer: the connection's PROXY header first, then `--allow` for the
 * source it names, then the session. Until the header is complete nothing is
 * forwarded and no destination is dialled. A v2 LOCAL connection (the balancer's
 * health check) is closed quietly.
 */
const throughBalancer = (socket: net.Socket, admission: Admission, context: SessionContext): Effect.Effect<void> =>
  Effect.flatMap(beforeAdmission(socket, context, readHeader(socket)), (outcome) => {
    // Shutdown closes a connection still without its header: not the source's fault.
    if (outcome._tag === "Refused" && context.drain.draining) return Effect.sync(() => socket.destroy())
    if (outcome._tag === "Refused") return refuse(admission, socket, "proxy_protocol", peerOf(socket), outcome.reason)
    if (outcome.header._tag === "Local") {
      const peer = peerOf(socket)
      socket.destroy()
      return Effect.logDebug("closed a LOCAL connection (the balancer's health check)").pipe(
        Effect.annotateLogs("peer", peer)
      )
    }
    const origin = originOf(socket, outcome.header)
    if (origin === undefined) return Effect.sync(() => socket.destroy())
    if (!admission.allows(origin.source.address)) {
      return refuse(admission, socket, "not_allowed", formatAddress(origin.source))
    }
    return secureThenSession(socket, admission, context, origin)
  })

/** After a failed accept (such as EMFILE), wait this long so the loop does not spin. */
const acceptRetryDelay = Duration.millis(100)

/** What a newly accepted connection gets: its route's settings and counters as they are now, and who may connect. */
export interface AcceptTarget {
  readonly context: SessionContext
  readonly admission: Admission
}

/**
 * The accept loop: every accepted socket that the admission lets in becomes a
 * session fiber in `sessions`; one it refuses is closed at once, before a
 * session or any destination connection exists for it. A session that dies of
 * a defect is logged; it never takes the loop or its sibling sessions with it.
 * `target` is asked at each accept, so a reload's settings apply to the
 * connections accepted after it.
 */
export const acceptLoop = (
  listener: TcpListener,
  sessions: FiberSet.FiberSet,
  target: () => AcceptTarget
): Effect.Effect<never> =>
  Effect.forever(
    Effect.flatMap(listener.accept, (accepted) => {
      if (accepted._tag === "Error") {
        return Effect.logError(`accepting a connection failed: ${accepted.reason}`).pipe(
          Effect.zipRight(Effect.sleep(acceptRetryDelay))
        )
      }
      const socket = accepted.socket
      const { admission, context } = target()
      return Effect.flatMap(FiberSet.size(sessions), (open) => {
        const behindBalancer = context.config.acceptProxyProtocol
        const refusal = admission.refusal(socket, open, behindBalancer)
        if (refusal !== undefined) return refuse(admission, socket, refusal)
        const start = behindBalancer
          ? Effect.suspend(() => throughBalancer(socket, admission, context))
          : Effect.suspend(() => secureThenSession(socket, admission, context, undefined))
        // A connection of the proxy's own may be accepted a turn before it knows its local
        // port: while one is being made, the session looks again a turn later, before it
        // dials anything (the accept loop itself never waits).
        const session = diallingOwnConnections()
          ? Effect.zipRight(
            nextTurn,
            Effect.suspend(() =>
              isOwnConnection(socket)
                ? refuse(admission, socket, "loop")
                : start
            )
          )
          : start
        return FiberSet.run(
          sessions,
          session.pipe(
            Effect.catchAllCause((cause) =>
              Effect.annotateLogs(
                Effect.logError("connection ended by an unexpected error", cause),
                "peer",
                peerOf(socket)
              )
            )
          )
        )
      })
    })
  )

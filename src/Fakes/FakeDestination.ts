import * as Chunk from "effect/Chunk"
import * as Either from "effect/Either"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Mailbox from "effect/Mailbox"
import type * as Scope from "effect/Scope"
import type * as net from "node:net"
import * as tls from "node:tls"
import type { Endpoint, ListenAddress } from "../Proxy/Settings/Endpoint.js"
import { formatEndpoint } from "../Proxy/Settings/Endpoint.js"
import type { ConnectionLost, ListenError } from "../Proxy/Errors.js"
import type { MessageFraming } from "../Proxy/Framing/Framing.js"
import * as Tcp from "../Proxy/DataPath/Tcp.js"
import { formatBytes } from "../Proxy/Settings/Units.js"
import type { ListenerTls } from "../Proxy/Tls/Certificates.js"
import { serverHandshake } from "../Proxy/Tls/Handshake.js"
import type { Checked } from "./Numbered.js"
import { MessageChecker } from "./Numbered.js"
import { preview } from "./Preview.js"

export interface FakeDestinationOptions {
  readonly listen: ListenAddress
  /** Log each receipt at debug level instead of info (the demo prints a table instead). */
  readonly quiet?: boolean
  /** Check each connection's messages in this framing, and say how many were whole. */
  readonly framing?: MessageFraming | undefined
  /**
   * Accept TLS connections only, with this certificate (`loadListenerTls`); a
   * connection whose handshake fails is logged with the reason and closed.
   */
  readonly tls?: ListenerTls | undefined
}

const describeChecked = (id: number, checked: Checked): string =>
  checked._tag === "Whole"
    ? `#${id} message #${checked.n} (${checked.bytes} B): whole`
    : `#${id} NOT a whole message (${checked.bytes.length} B): ${preview(checked.bytes)}`

export interface FakeDestination {
  readonly address: Endpoint
  /** Connections accepted so far and bytes received over all of them. */
  readonly received: Effect.Effect<{ readonly connections: number; readonly bytes: number }>
}

/** A server that accepts any number of connections and logs what each one receives. */
export const make = (options: FakeDestinationOptions): Effect.Effect<FakeDestination, ListenError, Scope.Scope> =>
  Effect.gen(function*() {
    const listener = yield* Tcp.listen(options.listen)
    const connections = yield* FiberSet.make()
    const totals = { connections: 0, bytes: 0 }
    const log = options.quiet === true ? Effect.logDebug : Effect.logInfo

    const serve = (socket: net.Socket) =>
      Effect.gen(function*() {
        const received = yield* Mailbox.make<Uint8Array, ConnectionLost>()
        const connection = yield* Effect.acquireRelease(
          Effect.sync(() =>
            Tcp.inbound(socket, {
              onData: (chunk) => received.unsafeOffer(chunk),
              onEnd: (failure) => received.unsafeDone(failure === undefined ? Exit.void : Exit.fail(failure))
            })
          ),
          (connection) => Effect.sync(() => connection.close())
        )
        const id = ++totals.connections
        let bytes = 0
        const checker = options.framing === undefined ? undefined : new MessageChecker(options.framing)
        const summary = () =>
          checker === undefined ? "" : `: ${checker.whole} whole message(s), ${checker.partial} not whole`
        yield* log(
          socket instanceof tls.TLSSocket
            ? `connection #${id} from ${connection.peer} over TLS (${socket.getProtocol() ?? "TLS"})`
            : `connection #${id} from ${connection.peer}`
        )
        const outcome = yield* Effect.either(
          Effect.gen(function*() {
            while (true) {
              const [chunks, done] = yield* received.takeAll
              for (const chunk of Chunk.toReadonlyArray(chunks)) {
                bytes += chunk.length
                totals.bytes += chunk.length
                if (checker === undefined) {
                  yield* log(`#${id} +${chunk.length} B (total ${formatBytes(bytes)}) ${preview(chunk)}`)
                } else {
                  for (const checked of checker.push(chunk)) yield* log(describeChecked(id, checked))
                }
              }
              if (done) break
            }
          }).pipe(Effect.ensuring(Effect.suspend(() => {
            const rest = checker?.end()
            return rest === undefined ? Effect.void : log(describeChecked(id, rest))
          })))
        )
        if (Either.isLeft(outcome)) {
          return yield* Effect.logWarning(
            `connection #${id} lost: ${outcome.left.reason}, after ${formatBytes(bytes)}${summary()}`
          )
        }
        yield* log(`connection #${id} closed by ${connection.peer} after ${formatBytes(bytes)}${summary()}`)
      }).pipe(Effect.scoped)

    const material = options.tls
    /** With TLS: the handshake first, in the connection's own fiber; one that fails is logged and closed. */
    const secureThenServe = (socket: net.Socket) => {
      if (material === undefined) return serve(socket)
      // Taken now: once the peer has closed, the socket no longer knows its address.
      const peer = Tcp.peerOf(socket)
      return Effect.flatMap(serverHandshake(socket, material), (outcome) => {
        if (outcome._tag === "Secure") return serve(outcome.socket)
        socket.destroy()
        return Effect.logWarning(`connection from ${peer} refused: TLS handshake failed: ${outcome.reason}`)
      })
    }

    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(listener.accept, (accepted) =>
      accepted._tag === "Socket"
        ? FiberSet.run(connections, secureThenServe(accepted.socket))
        : Effect.logWarning(`accept failed: ${accepted.reason}`))))
    yield* log(
      `fake destination listening on ${formatEndpoint(listener.address)}${material === undefined ? "" : " (TLS)"}`
    )
    return { address: listener.address, received: Effect.sync(() => ({ ...totals })) }
  })

/** Runs a fake destination until interrupted. */
export const run = (options: FakeDestinationOptions): Effect.Effect<never, ListenError> =>
  Effect.scoped(Effect.zipRight(make(options), Effect.never))

/** TLS peers for the tests: a source that speaks TLS to the proxy, a destination that serves TLS. */
import { Effect } from "effect"
import type { Scope } from "effect"
import * as fs from "node:fs"
import type * as net from "node:net"
import * as tls from "node:tls"
import { Condition } from "./Condition.js"
import { loopback } from "./Peers.js"

export const read = (file: string) => fs.readFileSync(file, "utf8")

export interface TlsPeer {
  readonly data: () => string
  readonly closed: () => boolean
  readonly until: (predicate: () => boolean) => Effect.Effect<void>
  readonly write: (text: string) => Effect.Effect<void>
}

const waitFor = (changed: Condition, what: string) => (predicate: () => boolean) =>
  changed.waitUntil(predicate).pipe(
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`timed out waiting for ${what}`) }),
    Effect.orDie
  )

/** A source that speaks TLS to the proxy, verifying it against `ca` for localhost; `client` shows a certificate. */
export const tlsSource = (
  port: number,
  ca: string,
  client?: { readonly cert: string; readonly key: string }
): Effect.Effect<TlsPeer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const changed = new Condition()
    let closed = false
    let received = ""
    const socket = yield* Effect.acquireRelease(
      Effect.sync(() =>
        tls.connect({
          host: loopback,
          port,
          ca: [read(ca)],
          servername: "localhost",
          ...(client === undefined ? {} : { cert: read(client.cert), key: read(client.key) })
        })
      ),
      (socket) => Effect.sync(() => socket.destroy())
    )
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString()
      changed.notify()
    })
    socket.on("error", () => {})
    socket.on("close", () => {
      closed = true
      changed.notify()
    })
    return {
      data: () => received,
      closed: () => closed,
      until: waitFor(changed, "the TLS source"),
      write: (text) =>
        Effect.async<void>((resume) => {
          socket.write(text, () => resume(Effect.void))
        })
    }
  })

/** A destination that speaks TLS with `cert`: what each connection received, decrypted. */
export const tlsDestination = (
  cert: { readonly cert: string; readonly key: string },
  options: {
    readonly stalled?: boolean
    /** Mutual TLS: clients must show a certificate of this CA. */
    readonly clientCa?: string
  } = {}
) =>
  Effect.gen(function*() {
    const changed = new Condition()
    const connections: Array<string> = []
    const server = yield* Effect.acquireRelease(
      Effect.async<tls.Server>((resume) => {
        const server = tls.createServer({
          cert: read(cert.cert),
          key: read(cert.key),
          ...(options.clientCa === undefined
            ? {}
            : { ca: [read(options.clientCa)], requestCert: true, rejectUnauthorized: true })
        }, (socket) => {
          const index = connections.push("") - 1
          // A stalled consumer: the handshake is done, then nothing is read.
          if (options.stalled === true) socket.pause()
          socket.on("data", (chunk: Buffer) => {
            connections[index] += chunk.toString()
            changed.notify()
          })
          socket.on("error", () => {})
          changed.notify()
        })
        server.on("tlsClientError", () => {})
        server.listen({ host: loopback, port: 0 }, () => resume(Effect.succeed(server)))
      }),
      (server) => Effect.sync(() => server.close())
    )
    const port = (server.address() as net.AddressInfo).port
    return { port, connections, until: waitFor(changed, "the TLS destination") }
  })

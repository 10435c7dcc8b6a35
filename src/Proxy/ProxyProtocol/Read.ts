import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as net from "node:net"
import { describeSocketError } from "../DataPath/Tcp.js"
import type { ProxyHeader } from "./Header.js"
import { headerTimeoutMillis } from "./Header.js"
import { parseHeader } from "./Parse.js"

/** What came first on a connection that must begin with a PROXY header. */
export type HeaderOutcome =
  | { readonly _tag: "Header"; readonly header: ProxyHeader }
  | { readonly _tag: "Refused"; readonly reason: string }

export const headerTimeout = Duration.millis(headerTimeoutMillis)

const refused = (reason: string): HeaderOutcome => ({ _tag: "Refused", reason })

/**
 * Reads the PROXY header off an accepted socket (paused since accept). Once it is
 * complete, the socket is paused again and what came after the header in the same
 * read is put back (`unshift`), so whoever reads the socket next gets the source's
 * stream from its first byte. It never holds more than the header's bound: parsing
 * decides as soon as the bytes cannot be a header, or are one. A header not complete
 * within `timeout` (the Clock's, so tests can use the TestClock) is refused.
 */
export const readHeader = (
  socket: net.Socket,
  timeout: Duration.Duration = headerTimeout
): Effect.Effect<HeaderOutcome> =>
  Effect.async<HeaderOutcome>((resume) => {
    let received: Uint8Array = new Uint8Array(0)
    const finish = (outcome: HeaderOutcome) => {
      detach()
      resume(Effect.succeed(outcome))
    }
    const onData = (chunk: Uint8Array) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk])
      const parsed = parseHeader(received)
      if (parsed._tag === "Incomplete") return
      if (parsed._tag === "Invalid") return finish(refused(parsed.reason))
      socket.pause()
      if (parsed.length < received.length) socket.unshift(received.subarray(parsed.length))
      finish({ _tag: "Header", header: parsed.header })
    }
    const onEnd = () =>
      finish(refused(
        received.length === 0
          ? "the connection closed before sending a PROXY header"
          : "the connection closed inside its PROXY header"
      ))
    const onError = (error: Error) =>
      finish(refused(`the connection failed before its PROXY header: ${describeSocketError(error)}`))
    const detach = () => {
      socket.off("data", onData)
      socket.off("end", onEnd)
      socket.off("close", onEnd)
      socket.off("error", onError)
    }
    socket.on("data", onData)
    socket.on("end", onEnd)
    socket.on("close", onEnd)
    socket.on("error", onError)
    if (socket.destroyed) onEnd()
    else socket.resume()
    return Effect.sync(detach)
  }).pipe(
    Effect.timeoutTo({
      duration: timeout,
      onSuccess: (outcome) => outcome,
      onTimeout: () => refused(`no complete PROXY header within ${Duration.format(timeout)}`)
    })
  )

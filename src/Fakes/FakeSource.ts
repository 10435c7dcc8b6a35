import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { Endpoint } from "../Proxy/Settings/Endpoint.js"
import { formatEndpoint } from "../Proxy/Settings/Endpoint.js"
import type { MessageFraming } from "../Proxy/Framing/Framing.js"
import * as Tcp from "../Proxy/DataPath/Tcp.js"
import { numberedMessage } from "./Numbered.js"
import { preview } from "./Preview.js"

export interface FakeSourceOptions {
  readonly target: Endpoint
  /** Time between two messages. */
  readonly interval: Duration.Duration
  /** Random characters per message (a newline follows each). */
  readonly size: number
  /** Log each message at debug level instead of info (the demo prints a table instead). */
  readonly quiet?: boolean
  /**
   * Numbered messages of random sizes (1 to twice `size` characters) in this
   * framing, each sent in two writes cut at a random point, half an `interval`
   * apart, as a feed's messages come over TCP.
   */
  readonly framing?: MessageFraming | undefined
}

/** How long to wait before connecting again after a failure, like the old fake_source. */
export const reconnectDelay = Duration.seconds(2)

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

const randomMessage = (size: number): Uint8Array => {
  const bytes = new Uint8Array(size + 1)
  for (let i = 0; i < size; i++) bytes[i] = alphabet.charCodeAt(Math.floor(Math.random() * alphabet.length))
  bytes[size] = 0x0a
  return bytes
}

/**
 * Connects to `target` and sends a random line every `interval`; when it cannot
 * connect or loses the connection, it tries again after about 2 s. Runs until interrupted.
 */
export const run = (options: FakeSourceOptions): Effect.Effect<never> => {
  const target = formatEndpoint(options.target)
  const log = options.quiet === true ? Effect.logDebug : Effect.logInfo
  const session = Effect.gen(function*() {
    const connection = yield* Tcp.connect(options.target, Duration.seconds(3))
    yield* Effect.logInfo(`connected to ${target}`)
    const framing = options.framing
    let n = 0
    const sendForever = Effect.forever(
      framing === undefined
        ? Effect.gen(function*() {
          const message = randomMessage(options.size)
          yield* connection.write([message])
          yield* log(`sent ${message.length} B ${preview(message)}`)
          yield* Effect.sleep(options.interval)
        })
        : Effect.gen(function*() {
          const message = numberedMessage(framing, ++n, 1 + Math.floor(Math.random() * 2 * options.size))
          const cut = 1 + Math.floor(Math.random() * (message.length - 1))
          const half = Duration.times(options.interval, 0.5)
          yield* connection.write([message.subarray(0, cut)])
          yield* Effect.sleep(half)
          yield* connection.write([message.subarray(cut)])
          yield* log(`sent message #${n}, ${message.length} B in two writes (${cut} B, then the rest)`)
          yield* Effect.sleep(half)
        })
    )
    return yield* Effect.raceFirst(sendForever, connection.lost)
  }).pipe(Effect.scoped)
  return Effect.forever(
    session.pipe(
      Effect.catchAll((error) =>
        Effect.logWarning(`${error.message}; retrying in ${Duration.format(reconnectDelay)}`).pipe(
          Effect.zipRight(Effect.sleep(reconnectDelay))
        )
      )
    )
  )
}

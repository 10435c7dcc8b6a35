/**
 * Traffic for the network-namespace tests: a source that keeps a feed flowing
 * at a steady pace, what the proxy logs, and checks that what a destination
 * received is made of runs of the source's stream, in order.
 */
import { Duration, Effect, Fiber, HashMap, Layer, Logger, LogLevel } from "effect"
import type { Scope } from "effect"
import { Condition } from "../support/Condition.js"
import type { TestSource } from "../support/Peers.js"

export interface Feed {
  /** Bytes of the stream the source has written so far. */
  readonly sent: () => number
  /** Stops after the write under way and returns how many bytes were written in all. */
  readonly stop: Effect.Effect<number>
}

/**
 * Writes `stream` to `source` in `chunkBytes` pieces, one every `every`, until
 * stopped or the stream is used up. Each write waits until the kernel took the
 * bytes, so the proxy's backpressure slows the feed down as it would a real one.
 */
export const steadyFeed = (
  source: TestSource,
  stream: Buffer,
  chunkBytes: number,
  every: Duration.DurationInput
): Effect.Effect<Feed, never, Scope.Scope> =>
  Effect.gen(function*() {
    const state = { sent: 0, stopped: false }
    const fiber = yield* Effect.forkScoped(Effect.gen(function*() {
      while (!state.stopped && state.sent < stream.length) {
        const chunk = stream.subarray(state.sent, state.sent + chunkBytes)
        yield* source.write(chunk)
        state.sent += chunk.length
        yield* Effect.sleep(every)
      }
    }))
    return {
      sent: () => state.sent,
      stop: Effect.suspend(() => {
        state.stopped = true
        return Effect.as(Fiber.join(fiber), state.sent)
      })
    }
  })

export interface Run {
  /** Offset in the source's stream of the first byte. */
  readonly start: number
  readonly end: number
}

/**
 * Where `data` sits in the first `sent` bytes of `stream`: it must be one
 * contiguous run of them (nothing altered, reordered or duplicated inside).
 */
export const locateRun = (stream: Buffer, sent: number, data: Buffer): Run | string => {
  if (data.length === 0) return { start: 0, end: 0 }
  const sentStream = stream.subarray(0, sent)
  const head = data.subarray(0, Math.min(64, data.length))
  for (let at = sentStream.indexOf(head); at !== -1; at = sentStream.indexOf(head, at + 1)) {
    if (at + data.length <= sent && sentStream.subarray(at, at + data.length).equals(data)) {
      return { start: at, end: at + data.length }
    }
  }
  return `${data.length} bytes that are not a contiguous run of the ${sent} bytes the source sent`
}

/**
 * Checks the connections a destination had, in order: each one carries a
 * contiguous run of the stream, and each starts at or after the end of the one
 * before (gaps only between connections, never a byte twice). Returns the runs,
 * or a description of the first violation.
 */
export const checkRuns = (
  stream: Buffer,
  sent: number,
  received: ReadonlyArray<Buffer>
): ReadonlyArray<Run> | string => {
  const runs: Array<Run> = []
  for (const [index, data] of received.entries()) {
    const run = locateRun(stream, sent, data)
    if (typeof run === "string") return `connection ${index}: ${run}`
    const previous = runs.at(-1)
    if (previous !== undefined && data.length > 0 && run.start < previous.end) {
      return `connection ${index} starts at byte ${run.start}, before the previous connection's end at ${previous.end}`
    }
    runs.push(run)
  }
  return runs
}

export interface LogEntry {
  readonly at: number
  readonly level: string
  readonly message: string
  readonly destination: string | undefined
}

export interface LogCapture {
  readonly entries: ReadonlyArray<LogEntry>
  /** Waits until a logged entry satisfies `predicate`; returns the first one. */
  readonly waitFor: (
    predicate: (entry: LogEntry) => boolean,
    within?: Duration.DurationInput
  ) => Effect.Effect<LogEntry>
  /** Adds the capture to the loggers, and logs down to debug (the proxy's "redialling" lines). */
  readonly layer: Layer.Layer<never>
}

/** Records what the proxy logs, with the time and the `destination` annotation. */
export const captureLogs = (): LogCapture => {
  const entries: Array<LogEntry> = []
  const changed = new Condition()
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    const destination = HashMap.get(annotations, "destination")
    entries.push({
      at: Date.now(),
      level: logLevel.label,
      message: (Array.isArray(message) ? message : [message]).map(String).join(" "),
      destination: destination._tag === "Some" ? String(destination.value) : undefined
    })
    changed.notify()
  })
  const waitFor = (predicate: (entry: LogEntry) => boolean, within: Duration.DurationInput = Duration.seconds(10)) =>
    changed.waitUntil(() => entries.some(predicate)).pipe(
      Effect.timeoutFail({
        duration: within,
        onTimeout: () =>
          new Error(
            `no matching log line within ${Duration.format(Duration.decode(within))}; logged:\n` +
              entries.map((entry) => `${entry.level} [${entry.destination ?? "-"}] ${entry.message}`).join("\n")
          )
      }),
      Effect.orDie,
      Effect.map(() => entries.find(predicate)!)
    )
  return {
    entries,
    waitFor,
    layer: Layer.merge(Logger.add(logger), Logger.minimumLogLevel(LogLevel.Debug))
  }
}

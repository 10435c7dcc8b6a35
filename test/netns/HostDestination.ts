/**
 * A destination process inside a test host's namespace: real sockets on the
 * far side of the host's veth pair, every connection's bytes recorded to a file
 * (test/netns/destination.mjs), every socket event reported back so tests can
 * wait on them.
 */
import { Duration, Effect } from "effect"
import type { Scope } from "effect"
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Condition } from "../support/Condition.js"
import type { Endpoint } from "../../src/Proxy/Settings/Endpoint.js"
import { recordingsPrefix } from "../support/Netns.js"
import type { TestHost } from "../support/Netns.js"

const destinationScript = fileURLToPath(new URL("destination.mjs", import.meta.url))

export interface HostConnection {
  readonly id: number
  bytes: number
  /** The proxy half-closed (FIN) it. */
  ended: boolean
  closed: boolean
}

export interface HostDestination {
  readonly endpoint: Endpoint
  readonly connections: ReadonlyArray<HostConnection>
  readonly totalBytes: () => number
  /** Everything connection `id` has received so far, in order. */
  readonly data: (id: number) => Effect.Effect<Buffer>
  /** Waits, re-checking on every event of the destination, until `predicate` holds. */
  readonly until: (predicate: () => boolean, within?: Duration.DurationInput) => Effect.Effect<void>
}

interface DestinationEvent {
  readonly event: "listening" | "connection" | "data" | "end" | "error" | "close"
  readonly port?: number
  readonly id?: number
  readonly bytes?: number
}

/**
 * A destination process listening inside `host`'s namespace on an ephemeral
 * port, recording every connection's bytes; the scope kills it.
 */
export const hostDestination = (host: TestHost): Effect.Effect<HostDestination, never, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(path.join(os.tmpdir(), `${recordingsPrefix}${process.pid}-`))),
      (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
    )
    const changed = new Condition()
    const connections: Array<HostConnection> = []
    const state = { port: 0, exited: false, output: "", stderr: "" }
    const label = `destination in ${host.namespace} (${host.address})`

    const apply = (event: DestinationEvent) => {
      if (event.event === "listening") {
        state.port = event.port ?? 0
        return
      }
      const id = event.id ?? -1
      if (event.event === "connection") connections.push({ id, bytes: 0, ended: false, closed: false })
      const connection = connections.find((c) => c.id === id)
      if (connection === undefined) return
      if (event.event === "data") connection.bytes = event.bytes ?? connection.bytes
      if (event.event === "end") connection.ended = true
      if (event.event === "close") connection.closed = true
    }

    yield* Effect.acquireRelease(
      Effect.sync((): ChildProcess => {
        const child = spawn("ip", [
          "netns",
          "exec",
          host.namespace,
          process.execPath,
          destinationScript,
          host.address,
          dir
        ], {
          // Its stdin is this process: when that closes, the destination exits, even after a SIGKILL of the tests.
          stdio: ["pipe", "pipe", "pipe"]
        })
        child.stdout?.setEncoding("utf8")
        child.stderr?.setEncoding("utf8")
        child.stdout?.on("data", (text: string) => {
          state.output += text
          const lines = state.output.split("\n")
          state.output = lines.pop() ?? ""
          for (const line of lines) {
            try {
              apply(JSON.parse(line) as DestinationEvent)
            } catch {
              state.stderr += `${line}\n`
            }
          }
          changed.notify()
        })
        child.stderr?.on("data", (text: string) => {
          state.stderr += text
        })
        child.on("close", () => {
          state.exited = true
          changed.notify()
        })
        child.on("error", (error) => {
          state.stderr += `\n[spawn error] ${error.message}`
          state.exited = true
          changed.notify()
        })
        return child
      }),
      (child) =>
        state.exited
          ? Effect.void
          : Effect.sync(() => child.kill("SIGKILL")).pipe(
            Effect.zipRight(changed.waitUntil(() => state.exited)),
            Effect.timeoutOption(Duration.seconds(5)),
            Effect.asVoid
          )
    )

    const until = (predicate: () => boolean, within: Duration.DurationInput = Duration.seconds(10)) =>
      changed.waitUntil(() => predicate() || state.exited).pipe(
        Effect.timeoutFail({
          duration: within,
          onTimeout: () =>
            new Error(
              `timed out after ${Duration.format(Duration.decode(within))} waiting for the ${label}; ` +
                `connections: ${JSON.stringify(connections)}`
            )
        }),
        Effect.flatMap(() =>
          predicate()
            ? Effect.void
            : Effect.fail(new Error(`the ${label} exited: ${state.stderr}`))
        ),
        Effect.orDie
      )

    yield* until(() => state.port !== 0)
    return {
      endpoint: { host: host.address, port: state.port },
      connections,
      totalBytes: () => connections.reduce((sum, c) => sum + c.bytes, 0),
      data: (id) => Effect.promise(() => readFile(path.join(dir, `${id}.bin`))),
      until
    }
  })

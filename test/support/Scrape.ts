import { Effect } from "effect"
import * as http from "node:http"
import { loopback } from "./Peers.js"

export interface HttpReply {
  readonly status: number
  readonly contentType: string
  readonly body: string
}

/** One `GET http://host:port/path`; fails (as a defect) if the request fails. */
export const httpGet = (port: number, path: string, host: string = loopback): Effect.Effect<HttpReply> =>
  Effect.async<HttpReply>((resume) => {
    const request = http.get({ host, port, path, agent: false }, (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (text: string) => (body += text))
      response.on("end", () =>
        resume(Effect.succeed({
          status: response.statusCode ?? 0,
          contentType: String(response.headers["content-type"] ?? ""),
          body
        })))
    })
    request.on("error", (error) => resume(Effect.die(error)))
  })

/** Like `httpGet`, but a refused or reset connection is `undefined` instead of a failure. */
export const httpGetOrGone = (
  port: number,
  path: string,
  host: string = loopback
): Effect.Effect<HttpReply | undefined> =>
  Effect.catchAllDefect(httpGet(port, path, host), () => Effect.succeed(undefined))

/** The samples of a Prometheus text-format scrape, keyed `name` or `name{label="value",...}` as printed. */
export const parseScrape = (text: string): ReadonlyMap<string, number> => {
  const samples = new Map<string, number>()
  for (const line of text.split("\n")) {
    if (line.length === 0 || line.startsWith("#")) continue
    const space = line.lastIndexOf(" ")
    samples.set(line.slice(0, space), Number(line.slice(space + 1)))
  }
  return samples
}

/** Scrapes `/metrics` and returns its samples. */
export const scrape = (port: number): Effect.Effect<ReadonlyMap<string, number>> =>
  Effect.map(httpGet(port, "/metrics"), (reply) => parseScrape(reply.body))

/** A sample's value, or fails the test naming what the scrape did have. */
export const sample = (samples: ReadonlyMap<string, number>, key: string): number => {
  const value = samples.get(key)
  if (value === undefined) throw new Error(`no sample ${key} in the scrape: ${[...samples.keys()].join(", ")}`)
  return value
}

/**
 * Scrapes until `predicate` holds and returns that scrape. What the proxy
 * counts has no events a test can wait on, so this polls, every 20 ms, with a
 * generous deadline; use it only for what no socket event tells.
 */
export const scrapeUntil = (
  port: number,
  predicate: (samples: ReadonlyMap<string, number>) => boolean,
  withinMillis = 10_000
): Effect.Effect<ReadonlyMap<string, number>> =>
  Effect.gen(function*() {
    const deadline = Date.now() + withinMillis
    while (true) {
      const samples = yield* scrape(port)
      if (predicate(samples)) return samples
      if (Date.now() > deadline) {
        return yield* Effect.die(
          new Error(`the scrape never matched; last:\n${[...samples].map(([k, v]) => `${k} ${v}`).join("\n")}`)
        )
      }
      // Real time on purpose, as in TestProxy.statsUntil.
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
    }
  })

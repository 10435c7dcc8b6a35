/** Scrapes the proxy's Prometheus endpoint (`--metrics`) and reads values by name and labels. */
import { Effect } from "effect"
import * as http from "node:http"

export type Scrape = ReadonlyMap<string, number>

/** `name{label="value",...}` exactly as in the scrape, with labels in the given order. */
export const metricKey = (name: string, labels: Readonly<Record<string, string>> = {}): string => {
  const entries = Object.entries(labels)
  return entries.length === 0 ? name : `${name}{${entries.map(([k, v]) => `${k}="${v}"`).join(",")}}`
}

/** Parses the Prometheus text format into `series -> value`; label order is normalised (sorted). */
export const parseScrape = (text: string): Scrape => {
  const values = new Map<string, number>()
  for (const line of text.split("\n")) {
    if (line.length === 0 || line.startsWith("#")) continue
    const match = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/)
    if (match === null) continue
    const labels = [...(match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)]
      .map((m) => [m[1]!, m[2]!] as const)
      .sort(([a], [b]) => a.localeCompare(b))
    values.set(metricKey(match[1]!, Object.fromEntries(labels)), Number(match[3]))
  }
  return values
}

/** GET /metrics; fails with the reason when the proxy does not answer. */
export const scrape = (host: string, port: number): Effect.Effect<Scrape, Error> =>
  Effect.async<Scrape, Error>((resume) => {
    const request = http.get({ host, port, path: "/metrics", timeout: 5_000, agent: false }, (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (text: string) => {
        body += text
      })
      response.on("end", () =>
        response.statusCode === 200
          ? resume(Effect.succeed(parseScrape(body)))
          : resume(Effect.fail(new Error(`GET /metrics answered ${response.statusCode}`))))
    })
    request.on("timeout", () => request.destroy(new Error("GET /metrics timed out")))
    request.on("error", (error) => resume(Effect.fail(error)))
    return Effect.sync(() => request.destroy())
  })

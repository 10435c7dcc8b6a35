import * as Duration from "effect/Duration"
import { formatCidr } from "../Settings/Cidr.js"
import { formatEndpoint } from "../Settings/Endpoint.js"
import type { DestinationConfig, RouteConfig } from "./Routes.js"
import { formatDuration, formatSize } from "../Settings/Units.js"

const destinationText = (d: DestinationConfig) => {
  const overrides = [
    `buffer ${formatSize(d.bufferBytes)}`,
    `write-timeout ${formatDuration(d.writeTimeout)}`,
    `connect-timeout ${formatDuration(d.connectTimeout)}`,
    `sample ${Math.round(d.sample * 10000) / 100}%`,
    `send-proxy-protocol ${d.sendProxyProtocol}`
  ]
  return `${formatEndpoint(d)} (${overrides.join(", ")})`
}

/** Each setting of a route as written, by file key, for comparing and for the reload's log line. */
const settingsOf = (route: RouteConfig): ReadonlyArray<readonly [string, string]> => [
  ["listen", formatEndpoint(route.listen)],
  ["connect-timeout", formatDuration(route.connectTimeout)],
  ["write-timeout", formatDuration(route.writeTimeout)],
  ["idle-timeout", formatDuration(route.idleTimeout)],
  ["buffer", formatSize(route.bufferBytes)],
  ["max-connections", route.maxConnections === undefined ? "no limit" : String(route.maxConnections)],
  ["allow", route.allow === undefined ? "everyone" : route.allow.map(formatCidr).join(", ")],
  ["framing", route.framing],
  ["max-message", formatSize(route.maxMessageBytes)],
  ["accept-proxy-protocol", String(route.acceptProxyProtocol)]
]

/**
 * What changed from `before` to `after`, one phrase per change
 * (`destinations +a:1 -b:2`, `idle-timeout 30m -> 10m`); empty when nothing did.
 */
export const routeChanges = (before: RouteConfig, after: RouteConfig): ReadonlyArray<string> => {
  const changes: Array<string> = []
  const old = new Map(settingsOf(before))
  for (const [key, value] of settingsOf(after)) {
    if (old.get(key) !== value) changes.push(`${key} ${old.get(key)} -> ${value}`)
  }
  const was = new Map(before.destinations.map((d) => [formatEndpoint(d), destinationText(d)]))
  const is = new Map(after.destinations.map((d) => [formatEndpoint(d), destinationText(d)]))
  const added = [...is.keys()].filter((name) => !was.has(name))
  const removed = [...was.keys()].filter((name) => !is.has(name))
  const altered = [...is.keys()].filter((name) => was.has(name) && was.get(name) !== is.get(name))
  const reordered = added.length === 0 && removed.length === 0 && [...was.keys()].join() !== [...is.keys()].join()
  if (added.length > 0 || removed.length > 0) {
    changes.push(`destinations ${[...added.map((n) => `+${n}`), ...removed.map((n) => `-${n}`)].join(" ")}`)
  }
  for (const name of altered) changes.push(`destination ${is.get(name)}`)
  if (reordered) changes.push("destinations reordered")
  return changes
}

/** True when a reload must touch the route. */
export const routeChanged = (before: RouteConfig, after: RouteConfig): boolean => routeChanges(before, after).length > 0

/** `5s`, for a line about the drain timeout. */
export const describeDuration = (duration: Duration.Duration): string => formatDuration(Duration.decode(duration))

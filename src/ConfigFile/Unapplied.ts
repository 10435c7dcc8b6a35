import { Duration, Effect } from "effect"
import { formatEndpoint } from "../Proxy/Endpoint.js"
import type { RoutesConfig } from "../Proxy/Routes.js"

/**
 * What the file may say that the session code does not follow yet: a
 * destination's own buffer, write-timeout, connect-timeout and sample. They are
 * validated and kept in each route's destination list (`LiveRoute.destinations`);
 * until the sessions read them, connections use the route's values, and this
 * says so once per load rather than letting the file look obeyed.
 */
export const warnUnapplied = (config: RoutesConfig): Effect.Effect<void> => {
  const ignored: Array<string> = []
  for (const route of config.routes) {
    for (const d of route.destinations) {
      const differs = d.bufferBytes !== route.bufferBytes ||
        !Duration.equals(d.writeTimeout, route.writeTimeout) ||
        !Duration.equals(d.connectTimeout, route.connectTimeout) ||
        d.sample !== 1
      if (differs) ignored.push(`${route.name}/${formatEndpoint(d)}`)
    }
  }
  return ignored.length === 0 ? Effect.void : Effect.logWarning(
    `settings of single destinations (buffer, write-timeout, connect-timeout, sample) are checked but not applied yet; ` +
      `these use their route's: ${ignored.join(", ")}`
  )
}

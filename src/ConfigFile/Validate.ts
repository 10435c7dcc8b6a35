import * as Either from "effect/Either"
import type { ListenAddress } from "../Proxy/Settings/Endpoint.js"
import { formatEndpoint } from "../Proxy/Settings/Endpoint.js"
import { listenClash } from "../Proxy/Edges/ListenClash.js"
import type { FileEntry } from "./Schema.js"

/** Where in the file, and what is wrong there. */
export interface Problem {
  readonly path: string
  readonly reason: string
}

const describe = (address: ListenAddress) => formatEndpoint(address)

/**
 * What the Schema of one value cannot check: at least one route, each with at
 * least one destination; route names unique; no two routes (nor the metrics)
 * on one listen address. The first problem found, if any.
 */
export const validate = (file: FileEntry): Either.Either<FileEntry, Problem> => {
  if (file.routes.length === 0) return Either.left({ path: "routes", reason: "no routes: give at least one" })
  const names = new Map<string, number>()
  for (const [i, route] of file.routes.entries()) {
    if (route.destinations.length === 0) {
      return Either.left({
        path: `routes[${i}].destinations`,
        reason: `route "${route.name}" has no destinations: give at least one`
      })
    }
    const first = names.get(route.name)
    if (first !== undefined) {
      return Either.left({
        path: `routes[${i}].name`,
        reason: `"${route.name}" is already the name of routes[${first}]: names must be unique`
      })
    }
    names.set(route.name, i)
    for (let j = 0; j < i; j++) {
      const other = file.routes[j]!
      if (listenClash(route.listen, other.listen)) {
        return Either.left({
          path: `routes[${i}].listen`,
          reason: `${
            describe(route.listen)
          } is already where routes[${j}] ("${other.name}") listens: each route needs its own address`
        })
      }
    }
    if (file.metrics !== undefined && listenClash(file.metrics, route.listen)) {
      return Either.left({
        path: "metrics",
        reason: `${
          describe(file.metrics)
        } is where routes[${i}] ("${route.name}") listens: the metrics need a port of their own`
      })
    }
  }
  return Either.right(file)
}

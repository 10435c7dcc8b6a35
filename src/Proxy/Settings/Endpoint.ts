import * as Either from "effect/Either"
import { isIPv4, isIPv6 } from "node:net"

/** A TCP address: an IPv4 or IPv6 literal or a host name, and a port. */
export interface Endpoint {
  readonly host: string
  readonly port: number
  /** Written `tls://HOST:PORT`: the connection speaks TLS, the server's certificate verified (issue 12). */
  readonly tls?: boolean | undefined
}

/** Where the proxy listens; without a host it binds every interface. */
export interface ListenAddress {
  readonly host?: string | undefined
  readonly port: number
}

/** `host:port` (`tls://host:port`), with IPv6 literals bracketed so the result parses again. */
export const formatEndpoint = (endpoint: ListenAddress & { readonly tls?: boolean | undefined }): string =>
  (endpoint.tls === true ? tlsScheme : "") + (
    endpoint.host === undefined
      ? `*:${endpoint.port}`
      : isIPv6(endpoint.host)
      ? `[${endpoint.host}]:${endpoint.port}`
      : `${endpoint.host}:${endpoint.port}`
  )

const tlsScheme = "tls://"

const hostLabel = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i

// A name whose last label is all digits would be an IPv4 address, and not a valid one.
const isHostName = (host: string): boolean =>
  host.length <= 253 && host.split(".").every((label) => hostLabel.test(label)) && !/^\d+$/.test(host.split(".").pop()!)

const parsePort = (text: string, lowest: number): Either.Either<number, string> => {
  if (!/^\d+$/.test(text)) {
    return Either.left(`port "${text}" is not a number`)
  }
  const port = Number(text)
  return port >= lowest && port <= 65535
    ? Either.right(port)
    : Either.left(`port ${text} is out of range (${lowest}-65535)`)
}

const parseHost = (text: string): Either.Either<string, string> => {
  if (text.startsWith("[") && text.endsWith("]")) {
    const literal = text.slice(1, -1)
    return isIPv6(literal) ? Either.right(literal) : Either.left(`"${literal}" is not an IPv6 address`)
  }
  if (isIPv4(text) || isHostName(text)) return Either.right(text)
  if (/^[\d.]+$/.test(text)) return Either.left(`"${text}" is not a valid IPv4 address`)
  if (isIPv6(text)) return Either.left(`write IPv6 addresses in brackets, as [${text}]:PORT`)
  return Either.left(`"${text}" is not a host name or IP address`)
}

const splitHostPort = (text: string): Either.Either<readonly [string, string], string> => {
  if (isIPv6(text) || (text.startsWith("[") && text.endsWith("]"))) {
    return Either.left("write IPv6 addresses in brackets, with a port: [ADDRESS]:PORT, for example [::1]:PORT")
  }
  const colon = text.lastIndexOf(":")
  if (colon <= 0 || colon === text.length - 1) {
    return Either.left("expected HOST:PORT, for example 127.0.0.1:8080 or [::1]:8080")
  }
  return Either.right([text.slice(0, colon), text.slice(colon + 1)] as const)
}

/** Parses a destination `HOST:PORT` or `tls://HOST:PORT`; HOST may be IPv4, a host name or `[IPv6]`. */
export const parseEndpoint = (text: string): Either.Either<Endpoint, string> =>
  Either.gen(function*() {
    const trimmed = text.trim()
    const tls = trimmed.toLowerCase().startsWith(tlsScheme)
    const [hostText, portText] = yield* splitHostPort(tls ? trimmed.slice(tlsScheme.length) : trimmed)
    const host = yield* parseHost(hostText)
    const port = yield* parsePort(portText, 1)
    return tls ? { host, port, tls } : { host, port }
  })

/** Parses a comma-separated destination list, the form `SOCKET_PROXY_DESTINATIONS` uses. */
export const parseEndpointList = (text: string): Either.Either<ReadonlyArray<Endpoint>, string> => {
  const items = text.split(",").map((item) => item.trim()).filter((item) => item.length > 0)
  // In a list, say which item is wrong; alone, the value already says it.
  return Either.all(
    items.map((item) =>
      items.length === 1 ? parseEndpoint(item) : Either.mapLeft(parseEndpoint(item), (reason) => `"${item}": ${reason}`)
    )
  )
}

/** Parses `PORT` (every interface) or `HOST:PORT`; port 0 asks the OS for a free port. */
export const parseListenAddress = (text: string): Either.Either<ListenAddress, string> => {
  const trimmed = text.trim()
  if (/^\d+$/.test(trimmed)) {
    return Either.map(parsePort(trimmed, 0), (port) => ({ port }))
  }
  return Either.gen(function*() {
    const [hostText, portText] = yield* Either.mapLeft(
      splitHostPort(trimmed),
      (reason) =>
        reason.startsWith("expected HOST:PORT")
          ? "expected PORT (every interface) or HOST:PORT, for example 8000, 127.0.0.1:8000 or [::1]:8000"
          : reason
    )
    const host = yield* parseHost(hostText)
    const port = yield* parsePort(portText, 0)
    return { host, port }
  })
}

import * as net from "node:net"
import { formatEndpoint } from "../Settings/Endpoint.js"
import type { HeaderAddress, ProxyHeader } from "./Header.js"

/** Who a source connection is for, and the address it connected to: what a header sent on names. */
export interface Origin {
  readonly source: HeaderAddress
  readonly destination: HeaderAddress
}

/** IPv4-mapped IPv6 (`::ffff:192.0.2.7`) as the IPv4 address it is. */
const unmapped = (address: string): string =>
  address.startsWith("::ffff:") && net.isIPv4(address.slice(7)) ? address.slice(7) : address

/**
 * The connection's origin: the header's source and destination when it names
 * them, else the socket's own ends (a connection not through a balancer, or a
 * header that says `UNKNOWN`/`UNSPEC`). Undefined when the socket no longer knows
 * its ends (it closed already).
 */
export const originOf = (socket: net.Socket, header: ProxyHeader | undefined): Origin | undefined => {
  if (header?._tag === "Proxied") {
    return {
      source: { address: unmapped(header.source.address), port: header.source.port },
      destination: { address: unmapped(header.destination.address), port: header.destination.port }
    }
  }
  const { localAddress, localPort, remoteAddress, remotePort } = socket
  if (
    remoteAddress === undefined || remotePort === undefined || localAddress === undefined || localPort === undefined
  ) {
    return undefined
  }
  return {
    source: { address: unmapped(remoteAddress), port: remotePort },
    destination: { address: unmapped(localAddress), port: localPort }
  }
}

/** `192.0.2.7:4711`, `[2001:db8::7]:4711`: the source as logs name it (`peer`). */
export const formatAddress = (address: HeaderAddress): string =>
  formatEndpoint({ host: address.address, port: address.port })

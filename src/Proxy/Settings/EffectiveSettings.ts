import * as Duration from "effect/Duration"
import { formatCidr } from "./Cidr.js"
import type { ProxyConfig } from "./Config.js"
import { formatEndpoint } from "./Endpoint.js"
import { formatBytes } from "./Units.js"

/**
 * What the flags, the environment and the defaults made of the command, for the
 * start-up line: every setting under its flag's name, in one parenthesis, so an
 * operator sees the timeouts, buffer and limits actually in force.
 */
export const describeSettings = (config: ProxyConfig): string =>
  [
    `connect-timeout ${Duration.format(config.connectTimeout)}`,
    `write-timeout ${Duration.format(config.writeTimeout)}`,
    `idle-timeout ${Duration.isZero(config.idleTimeout) ? "off" : Duration.format(config.idleTimeout)}`,
    `buffer ${formatBytes(config.bufferBytes)} per destination`,
    `max-connections ${config.maxConnections ?? "no limit"}`,
    `allow ${config.allow === undefined ? "everyone" : config.allow.map(formatCidr).join(", ")}`,
    // Only when on, so a route without framing reads as it always has.
    ...(config.framing === "none"
      ? []
      : [`framing ${config.framing}, max-message ${formatBytes(config.maxMessageBytes)}`]),
    // Only when on, as with framing.
    ...(config.acceptProxyProtocol ? ["accept-proxy-protocol"] : []),
    ...(config.sendProxyProtocol === "off" ? [] : [`send-proxy-protocol ${config.sendProxyProtocol}`]),
    ...(config.listenerTls === undefined
      ? []
      : [
        `tls ${config.listenerTls.cert}${
          config.listenerTls.clientCa === undefined ? "" : ", client certificates required"
        }`
      ]),
    `drain-timeout ${Duration.format(config.drainTimeout)}`,
    `metrics ${config.metrics === undefined ? "off" : formatEndpoint(config.metrics)}`
  ].join("; ")

/**
 * socket-proxy as a library: a TCP fan-out proxy you can run as an Effect Layer.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { NodeRuntime } from "@effect/platform-node"
 * import { Proxy, makeProxyConfig } from "socket-proxy"
 *
 * const ProxyLive = Proxy.layer(makeProxyConfig({
 *   listen: { port: 8000 },
 *   destinations: [{ host: "127.0.0.1", port: 8080 }]
 * }))
 * NodeRuntime.runMain(Layer.launch(ProxyLive))
 * ```
 */
export * as Proxy from "./Proxy.js"
export type { ProxyService } from "./Proxy.js"
export { defaults, makeProxyConfig, proxyConfigFromEnv, resolveProxyConfig, settingNames } from "./Config.js"
export type { ProxyConfig, ProxySettingsText } from "./Config.js"
export { AllowList, formatCidr, parseCidr, parseCidrList } from "./Cidr.js"
export type { Cidr } from "./Cidr.js"
export { formatEndpoint, parseEndpoint, parseEndpointList, parseListenAddress } from "./Endpoint.js"
export type { Endpoint, ListenAddress } from "./Endpoint.js"
export { ConnectError, ConnectionLost, InvalidConfig, ListenError, MissingConfig } from "./Errors.js"
export type { ConfigError } from "./Errors.js"
export type { ConnectionStats, DestinationStats, LinkStats, ProxyStats, RefusalReason } from "./Stats.js"
export type { DestinationState } from "./DestinationHealth.js"
export { formatBytes, parseByteSize, parseDuration } from "./Units.js"

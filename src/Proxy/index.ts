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
export { AllowList, formatCidr, parseCidr, parseCidrList } from "./Cidr.js"
export type { Cidr } from "./Cidr.js"
export {
  defaultRouteName,
  defaults,
  makeProxyConfig,
  proxyConfigFromEnv,
  resolveProxyConfig,
  settingNames
} from "./Config.js"
export type { ProxyConfig, ProxySettingsText } from "./Config.js"
export type { DestinationState } from "./DestinationHealth.js"
export { formatEndpoint, parseEndpoint, parseEndpointList, parseListenAddress } from "./Endpoint.js"
export type { Endpoint, ListenAddress } from "./Endpoint.js"
export {
  ConnectError,
  ConnectionLost,
  InvalidConfig,
  InvalidConfigFile,
  ListenError,
  MissingConfig,
  UsageError
} from "./Errors.js"
export type { ConfigError } from "./Errors.js"
export * as Proxy from "./Proxy.js"
export type { ProxyService, RoutesService } from "./Proxy.js"
export type { LiveRoute } from "./Route.js"
export { describeRoute, sessionConfig } from "./Routes.js"
export type { DestinationConfig, RouteConfig, RoutesConfig } from "./Routes.js"
export type { RouteSet } from "./RouteSet.js"
export { settings } from "./Settings.js"
export type { Place, Setting, SettingKey } from "./Settings.js"
export type { ConnectionStats, DestinationStats, LinkStats, ProxyStats, RefusalReason } from "./Stats.js"
export { formatBytes, formatDuration, formatSize, parseByteSize, parseDuration } from "./Units.js"

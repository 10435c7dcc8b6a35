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
export type { DestinationState } from "./Observability/DestinationHealth.js"
export type { ConnectionStats, DestinationStats, LinkStats, ProxyStats, RefusalReason } from "./Observability/Stats.js"
export * as Proxy from "./Proxy.js"
export type { ProxyService, RoutesService } from "./Proxy.js"
export type { LiveRoute } from "./Routes/Route.js"
export { describeRoute, sessionConfig } from "./Routes/Routes.js"
export type { DestinationConfig, RouteConfig, RoutesConfig } from "./Routes/Routes.js"
export type { RouteSet } from "./Routes/RouteSet.js"
export { AllowList, formatCidr, parseCidr, parseCidrList } from "./Settings/Cidr.js"
export type { Cidr } from "./Settings/Cidr.js"
export {
  defaultRouteName,
  defaults,
  makeProxyConfig,
  proxyConfigFromEnv,
  resolveProxyConfig,
  settingNames
} from "./Settings/Config.js"
export type { ProxyConfig, ProxySettingsText } from "./Settings/Config.js"
export { formatEndpoint, parseEndpoint, parseEndpointList, parseListenAddress } from "./Settings/Endpoint.js"
export type { Endpoint, ListenAddress } from "./Settings/Endpoint.js"
export { settings } from "./Settings/Settings.js"
export type { Place, Setting, SettingKey } from "./Settings/Settings.js"
export { formatBytes, formatDuration, formatSize, parseByteSize, parseDuration } from "./Settings/Units.js"

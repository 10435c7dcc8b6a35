import { Command, Options } from "@effect/cli"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { defaults, resolveProxyConfig, settingNames } from "../Proxy/Config.js"
import { formatBytes } from "../Proxy/Units.js"
import { untilLauncherGone } from "./LauncherWatch.js"
import { logFormatOption, withLogFormat } from "./LogFormatOption.js"
import { logLevelOption, withLogLevel } from "./LogLevelOption.js"


const fallsBackTo = (env: string, fallback?: string) =>
  fallback === undefined ? `Falls back to ${env}.` : `Falls back to ${env}, then ${fallback}.`

const listen = Options.text("listen").pipe(
  Options.withPseudoName("PORT|HOST:PORT"),
  Options.withDescription(
    "Where to accept sources: PORT binds every interface, HOST:PORT one address ([::1]:PORT for IPv6). " +
      fallsBackTo(settingNames.listen.env)
  ),
  Options.optional
)

const dest = Options.text("dest").pipe(
  Options.withPseudoName("HOST:PORT"),
  Options.withDescription(
    "A destination; repeat it, or give a comma-separated list (\"a:1, b:2\"). " +
      fallsBackTo(settingNames.destinations.env)
  ),
  Options.repeated
)

const textOption = (name: string, pseudoName: string, description: string) =>
  Options.text(name).pipe(Options.withPseudoName(pseudoName), Options.withDescription(description), Options.optional)

const connectTimeout = textOption(
  "connect-timeout",
  "DURATION",
  "How long one connection attempt to a destination may take. " +
    fallsBackTo(settingNames.connectTimeout.env, Duration.format(defaults.connectTimeout))
)
const writeTimeout = textOption(
  "write-timeout",
  "DURATION",
  "How long a slow or stalled destination may hold the source back before it is cut and redialled. " +
    fallsBackTo(settingNames.writeTimeout.env, Duration.format(defaults.writeTimeout))
)
const idleTimeout = textOption(
  "idle-timeout",
  "DURATION",
  "Close a source that sent nothing for this long; 0 disables. " +
    fallsBackTo(settingNames.idleTimeout.env, Duration.format(defaults.idleTimeout))
)
const buffer = textOption(
  "buffer",
  "SIZE",
  "Bytes held per destination of each source while that destination is slow or down (64KiB, 1MiB, ...). " +
    fallsBackTo(settingNames.bufferBytes.env, formatBytes(defaults.bufferBytes))
)
const metrics = textOption(
  "metrics",
  "PORT|HOST:PORT",
  "Serve /metrics (Prometheus) and /healthz over HTTP here: PORT binds every interface, 127.0.0.1:PORT loopback only. " +
    fallsBackTo(settingNames.metrics.env, "off")
)
const maxConnections = textOption(
  "max-connections",
  "N",
  "Sources connected at once; more are closed at accept, logged and counted. " +
    fallsBackTo(settingNames.maxConnections.env, "no limit")
)
const allow = textOption(
  "allow",
  "CIDR[,CIDR...]",
  "Only sources in these address blocks may connect (10.0.0.0/8, 192.168.1.7, fd00::/8); IPv4 blocks also match " +
    "IPv4-mapped IPv6 sources. Others are closed at accept, logged and counted. " +
    fallsBackTo(settingNames.allow.env, "everyone")
)
const drainTimeout = textOption(
  "drain-timeout",
  "DURATION",
  "On SIGTERM/SIGINT, how long open connections get to flush before everything is closed. " +
    fallsBackTo(settingNames.drainTimeout.env, Duration.format(defaults.drainTimeout))
)

/** The proxy itself is loaded only to run it: `--help` and a bad flag need none of it. */
const loadProxy = Effect.promise(() => import("../Proxy/Proxy.js"))

/** `proxy`: run the proxy until SIGINT/SIGTERM. Flags win over `SOCKET_PROXY_*` env variables. */
export const proxyCommand = Command.make(
  "proxy",
  {
    listen,
    dest,
    connectTimeout,
    writeTimeout,
    idleTimeout,
    buffer,
    metrics,
    maxConnections,
    allow,
    drainTimeout,
    logLevel: logLevelOption,
    logFormat: logFormatOption
  },
  (options) =>
    Effect.flatMap(
      resolveProxyConfig({
        listen: Option.getOrUndefined(options.listen),
        destinations: options.dest,
        connectTimeout: Option.getOrUndefined(options.connectTimeout),
        writeTimeout: Option.getOrUndefined(options.writeTimeout),
        idleTimeout: Option.getOrUndefined(options.idleTimeout),
        bufferBytes: Option.getOrUndefined(options.buffer),
        metrics: Option.getOrUndefined(options.metrics),
        maxConnections: Option.getOrUndefined(options.maxConnections),
        allow: Option.getOrUndefined(options.allow),
        drainTimeout: Option.getOrUndefined(options.drainTimeout)
      }),
      (config) =>
        Effect.flatMap(loadProxy, (Proxy) => untilLauncherGone(Layer.launch(Proxy.layer(config))))
    ).pipe(withLogFormat(options.logFormat), withLogLevel(options.logLevel))
).pipe(Command.withDescription("Run the fan-out proxy: every source that connects is forwarded to every destination."))

import { checkSwitch } from "../Proxy/Settings/Settings.js"
import { durationSpelling, sizeSpelling } from "../Proxy/Settings/Units.js"
import type { CommandHelp } from "./Help.js"
import type { OptionSpec } from "./OptionSpec.js"
import { settingOption } from "./OptionSpec.js"

/** The proxy command's options, from the settings table, in the order `--help` shows them. */
export const options = {
  config: settingOption("config"),
  listen: settingOption("listen", { defaultText: "required without --config" }),
  destinations: settingOption("destinations", { defaultText: "required without --config, at least one" }),
  connectTimeout: settingOption("connectTimeout"),
  writeTimeout: settingOption("writeTimeout"),
  idleTimeout: settingOption("idleTimeout"),
  bufferBytes: settingOption("bufferBytes"),
  maxConnections: settingOption("maxConnections"),
  allow: settingOption("allow"),
  framing: settingOption("framing"),
  maxMessageBytes: settingOption("maxMessageBytes"),
  acceptProxyProtocol: settingOption("acceptProxyProtocol"),
  sendProxyProtocol: settingOption("sendProxyProtocol"),
  tlsCert: settingOption("tlsCert"),
  tlsKey: settingOption("tlsKey"),
  tlsClientCa: settingOption("tlsClientCa"),
  destCa: settingOption("destCa"),
  destCert: settingOption("destCert"),
  destKey: settingOption("destKey"),
  metrics: settingOption("metrics"),
  drainTimeout: settingOption("drainTimeout"),
  logLevel: settingOption("logLevel"),
  logFormat: settingOption("logFormat")
} satisfies Record<string, OptionSpec>

const checkOption: OptionSpec = {
  flag: checkSwitch.flag,
  metavar: undefined,
  help: checkSwitch.help,
  defaultText: undefined,
  env: undefined,
  repeatable: false
}

export const proxyHelp: CommandHelp = {
  name: "proxy",
  summary: "Run the fan-out proxy: every source that connects is forwarded to every destination.",
  usage: [
    "--listen PORT|HOST:PORT --dest HOST:PORT [--dest HOST:PORT ...] [OPTIONS]",
    "--config FILE [--check] [OPTIONS]"
  ],
  options: [options.config, checkOption, ...Object.values(options).slice(1)],
  notes: [
    "Flags win over the configuration file, and the file over SOCKET_PROXY_* variables. With --config, the " +
    "file gives the routes (each with its listen address and destinations), so --listen and --dest are refused.",
    `Durations are ${durationSpelling}. Sizes are ${sizeSpelling}.`,
    "SIGTERM or SIGINT drains and exits 0. SIGHUP, or a change of the file, reloads the file (without --config, " +
    "SIGHUP reloads the TLS certificate files, or is logged and ignored). Exit 2: bad configuration; 1: an address cannot be listened on.",
    "Reference: docs/settings.md (settings), docs/config-file.md (the file and reloads)."
  ]
}

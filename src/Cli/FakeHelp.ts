import { durationSpelling } from "../Proxy/Settings/Units.js"
import type { CommandHelp } from "./Help.js"
import type { OptionSpec } from "./OptionSpec.js"
import { settingOption } from "./OptionSpec.js"

const option = (flag: string, metavar: string, help: string, defaultText: string): OptionSpec => ({
  flag,
  metavar,
  help,
  defaultText,
  env: undefined,
  repeatable: false
})

/** A flag without a value (given: on). */
const switchOption = (flag: string, help: string): OptionSpec => ({
  flag,
  metavar: undefined,
  help,
  defaultText: "off",
  env: undefined,
  repeatable: false
})

const logLevel = settingOption("logLevel", {
  help: "The least severe log lines printed: trace, debug, info, warning (or warn), error or none."
})

export const sourceOptions = {
  port: option("port", "PORT", "The port to connect to.", "8000"),
  host: option("host", "HOST", "The host to connect to.", "127.0.0.1"),
  interval: option("interval", "DURATION", `Time between two lines: ${durationSpelling}.`, "1s"),
  size: option("size", "N", "Random characters per line (a newline follows each).", "16"),
  framing: option(
    "framing",
    "FRAMING",
    "lines, u16be or u32be: send numbered messages (#N and 1 to 2x --size random characters) in that framing, " +
      "each in two writes cut at a random point, half an --interval apart.",
    "none"
  ),
  tls: switchOption(
    "tls",
    "Connect with TLS, verifying the proxy's certificate against the system's CAs (for a proxy with --tls-cert). " +
      "A failed handshake is logged with its reason and retried like a refused connection."
  ),
  tlsCa: option(
    "tls-ca",
    "FILE",
    "Verify the proxy's certificate against the CAs in this file (PEM) instead of the system's. Implies --tls.",
    "the system's CAs"
  ),
  tlsCert: option(
    "tls-cert",
    "FILE",
    "Present this client certificate (PEM; the file may hold the chain), for a proxy with --tls-client-ca. " +
      "With --tls-key. Implies --tls.",
    "none"
  ),
  tlsKey: option("tls-key", "FILE", "The private key of --tls-cert (PEM, unencrypted).", "none"),
  tlsServername: option(
    "tls-servername",
    "NAME",
    "The name the proxy's certificate must be for, sent as SNI. An IP address (such as the default --host) is " +
      "not sent: the certificate must hold that address. Implies --tls.",
    "--host"
  ),
  logLevel
}

export const fakeSourceHelp: CommandHelp = {
  name: "fake-source",
  summary:
    "Connect to HOST:PORT and send a line of --size random characters every --interval; reconnect about every 2 s when it cannot connect or is cut off.",
  usage: [
    "[--port PORT] [--host HOST] [--interval DURATION] [--size N] [--framing lines|u16be|u32be]",
    "... --tls|--tls-ca FILE [--tls-servername NAME] [--tls-cert FILE --tls-key FILE]"
  ],
  options: Object.values(sourceOptions),
  notes: []
}

export const destinationOptions = {
  port: option("port", "PORT", "The port to listen on; 0 lets the OS choose (the log says which).", "8080"),
  host: option("host", "HOST", "The address to listen on.", "every interface"),
  framing: option(
    "framing",
    "FRAMING",
    "lines, u16be or u32be: check each connection's messages (as fake-source --framing sends them), log each " +
      "one as whole or not, and how many were whole when the connection ends.",
    "none"
  ),
  tlsCert: option(
    "tls-cert",
    "FILE",
    "Accept TLS connections only, with this certificate (PEM; the file may hold the chain). With --tls-key. " +
      "A connection whose handshake fails is logged with the reason and closed.",
    "off"
  ),
  tlsKey: option("tls-key", "FILE", "The private key of --tls-cert (PEM, unencrypted).", "none"),
  logLevel
}

export const fakeDestinationHelp: CommandHelp = {
  name: "fake-destination",
  summary: "Accept any number of connections and log what each receives: a preview and a running byte count.",
  usage: ["[--port PORT] [--host HOST] [--framing lines|u16be|u32be] [--tls-cert FILE --tls-key FILE]"],
  options: Object.values(destinationOptions),
  notes: []
}

export const demoOptions = { logLevel }

export const demoHelp: CommandHelp = {
  name: "demo",
  summary: "Two fake destinations, two fake sources (a line every 1s) and the proxy in one process, on loopback " +
    "ports the OS chooses; prints who received what every 2 s until Ctrl-C.",
  usage: [""],
  options: Object.values(demoOptions),
  notes: []
}

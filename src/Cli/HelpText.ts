import { version } from "../Version.js"
import { demoHelp, fakeDestinationHelp, fakeSourceHelp } from "./FakeHelp.js"
import { renderCommandHelp, renderRootHelp } from "./Help.js"
import { proxyHelp } from "./ProxyHelp.js"

/** Every command's help, in the order the root help lists them. */
export const helps = [proxyHelp, fakeSourceHelp, fakeDestinationHelp, demoHelp]

/**
 * What `--help`, `-h` or a lone `--version` prints for the command line `args`
 * (`process.argv.slice(2)`), or undefined when it asks for something else. It
 * needs only the settings table: neither @effect/cli nor the proxy is loaded.
 */
export const helpText = (args: ReadonlyArray<string>): string | undefined => {
  if (args.includes("--help") || args.includes("-h")) {
    const help = helps.find((candidate) => candidate.name === args[0])
    return help === undefined ? renderRootHelp(helps, version) : renderCommandHelp(help)
  }
  if (args.length === 1 && args[0] === "--version") return version
  return undefined
}

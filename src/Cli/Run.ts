import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { UsageError } from "../Proxy/Errors.js"
import { version } from "../Version.js"
import { demoCommand, fakeDestinationCommand, fakeSourceCommand } from "./FakeCommands.js"
import type { CommandHelp } from "./Help.js"
import { helps, helpText } from "./HelpText.js"
import { proxyCommand } from "./ProxyCommand.js"

const root = Command.make("socket-proxy").pipe(
  Command.withDescription("A TCP fan-out proxy: every source that connects is forwarded to every destination."),
  Command.withSubcommands([proxyCommand, fakeSourceCommand, fakeDestinationCommand, demoCommand])
)

const cli = Command.run(root, { name: "socket-proxy", version })

/** Options @effect/cli adds to every command; this program's help does not offer them, so they are refused. */
const builtIns = new Set(["--wizard", "--completions", "--version"])

const ansiEscape = new RegExp(String.raw`\u001b\[[0-9;?]*[ -/]*[@-~]`, "g")

/** @effect/cli's message, as one line. */
const oneLine = (error: ValidationError.ValidationError): string =>
  HelpDoc.toAnsiText(error.error).replace(ansiEscape, "").replace(/\s+/g, " ").trim()

const commandList = helps.map((help) => help.name).join(", ")

/** What @effect/cli found wrong, as this program's one line naming the argument. */
const describe = (command: string, error: ValidationError.ValidationError): string => {
  const message = oneLine(error)
  const unknown = /^Received unknown argument: '(.*)'$/.exec(message)
  if (unknown !== null)
    return `${command}: unknown argument ${
      JSON.stringify(unknown[1])
    } (socket-proxy ${command} --help lists the options)`
  return `${command}: ${message} (socket-proxy ${command} --help lists the options)`
}

/**
 * A console whose `error` prints nothing: @effect/cli prints its own (multi-line,
 * coloured) message before failing; this program prints one line instead.
 */
const withoutLibraryErrors = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    Console.consoleWith(Effect.succeed),
    (console) => Effect.withConsole(effect, { ...console, error: () => Effect.void })
  )

/**
 * Runs the command line `argv` (`process.argv`): `--help` and `--version` from
 * the settings table (`HelpText.ts`); every command through @effect/cli. Every rejection
 * fails with an error whose message is the one line to print.
 */
export const runCli = (argv: ReadonlyArray<string>) =>
  Effect.suspend(() => {
    const args = argv.slice(2)
    const text = helpText(args)
    if (text !== undefined) return Console.log(text)
    const help = helps.find((candidate) => candidate.name === args[0])
    if (help === undefined) {
      const first = args[0]
      return Effect.fail(
        new UsageError({
          detail: first === undefined
            ? `expected a command: ${commandList} (socket-proxy --help says more)`
            : first.startsWith("-")
            ? `unknown argument ${
              JSON.stringify(first)
            } before the command: give a command first (${commandList}); its options follow it`
            : `unknown command ${JSON.stringify(first)}: expected one of ${commandList}`
        })
      )
    }
    const builtIn = args.find((arg) => builtIns.has(arg.split("=")[0]!))
    if (builtIn !== undefined) {
      return Effect.fail(new UsageError({ detail: describeUnknown(help.name, builtIn) }))
    }
    const valueless = missingValue(help, args)
    if (valueless !== undefined) return Effect.fail(new UsageError({ detail: valueless }))
    return cli(argv).pipe(
      withoutLibraryErrors,
      Effect.catchIf(ValidationError.isValidationError, (error) =>
        Effect.fail(new UsageError({ detail: describe(help.name, error) })))
    )
  })

/** A flag that takes a value, given last or followed by another flag: say so, naming it. */
const missingValue = (help: CommandHelp, args: ReadonlyArray<string>): string | undefined => {
  for (let i = 1; i < args.length; i++) {
    const spec = help.options.find((option) => `--${option.flag}` === args[i])
    if (spec === undefined || spec.metavar === undefined) continue
    const next = args[i + 1]
    if (next === undefined || next.startsWith("--"))
      return `--${spec.flag} needs a value: --${spec.flag} ${spec.metavar}`
  }
  return undefined
}

const describeUnknown = (command: string, arg: string) =>
  `${command}: unknown argument ${JSON.stringify(arg)} (socket-proxy ${command} --help lists the options)`

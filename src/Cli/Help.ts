import type { OptionSpec } from "./OptionSpec.js"

/** What `socket-proxy COMMAND --help` shows. Plain text: no colour, piped or not. */
export interface CommandHelp {
  readonly name: string
  readonly summary: string
  /** Each usage line, after `socket-proxy NAME`. */
  readonly usage: ReadonlyArray<string>
  readonly options: ReadonlyArray<OptionSpec>
  /** Paragraphs after the options. */
  readonly notes: ReadonlyArray<string>
}

const width = 80
const indent = "      "
const glue = "\u0001"

/** Wraps `text` into lines of at most `width` columns, each starting with `prefix`. */
export const wrap = (text: string, prefix: string): ReadonlyArray<string> => {
  const lines: Array<string> = []
  let line = prefix
  for (const word of text.split(/\s+/).filter((w) => w.length > 0)) {
    if (line.length > prefix.length && line.length + 1 + word.length > width) {
      lines.push(line)
      line = prefix
    }
    line = line.length > prefix.length ? `${line} ${word}` : `${line}${word}`
  }
  if (line.length > prefix.length) lines.push(line)
  return lines
}

const optionLines = (spec: OptionSpec): ReadonlyArray<string> => {
  const head = `  --${spec.flag}${spec.metavar === undefined ? "" : ` ${spec.metavar}`}`
  const facts = [
    spec.repeatable ? "May be given more than once." : undefined,
    spec.defaultText === undefined ? undefined : `Default: ${spec.defaultText}.`,
    spec.env === undefined ? undefined : `Env: ${spec.env}.`
  ].filter((fact) => fact !== undefined)
  // A fact is never split over two lines: "Default:" stays with its value.
  const glued = facts.map((fact) => fact.replace(/ /g, glue))
  return [head, ...wrap(`${spec.help} ${glued.join(" ")}`, indent).map((line) => line.replaceAll(glue, " "))]
}

const helpOption: OptionSpec = {
  flag: "help",
  metavar: undefined,
  help: "Show this help (also -h).",
  defaultText: undefined,
  env: undefined,
  repeatable: false
}

export const renderCommandHelp = (command: CommandHelp): string =>
  [
    ...wrap(`socket-proxy ${command.name}: ${command.summary}`, ""),
    "",
    "Usage:",
    ...command.usage.map((usage) => `  socket-proxy ${command.name}${usage === "" ? "" : ` ${usage}`}`),
    "",
    "Options:",
    ...[...command.options, helpOption].flatMap(optionLines),
    ...command.notes.flatMap((note) => ["", ...wrap(note, "")]),
    ""
  ].join("\n")

export const renderRootHelp = (commands: ReadonlyArray<CommandHelp>, version: string): string => {
  const column = Math.max(...commands.map((command) => command.name.length)) + 2
  return [
    `socket-proxy ${version}: a TCP fan-out proxy; every source that connects is forwarded to every destination.`,
    "",
    "Usage:",
    "  socket-proxy COMMAND [OPTIONS]",
    "  socket-proxy COMMAND --help     the options of COMMAND",
    "  socket-proxy --version",
    "",
    "Commands:",
    ...commands.flatMap((command) => {
      const [first = "", ...rest] = wrap(command.summary, " ".repeat(2 + column))
      return [`  ${command.name.padEnd(column)}${first.trimStart()}`, ...rest]
    }),
    ""
  ].join("\n")
}

#!/usr/bin/env node
import { helpText } from "./Cli/HelpText.js"

// `--help` and `--version` print from the settings table and exit. Through `npx tsx` every
// module loaded costs about a millisecond, and @effect/cli with Effect's runtime is most of a
// second of them: only a command that runs loads those.
const text = helpText(process.argv.slice(2))
if (text === undefined) await import("./Cli/Main.js")
else process.stdout.write(`${text}\n`)

// Writes the settings table of docs/settings.md from the code's table (src/Proxy/Settings/Settings.ts).
// Usage: npm run docs:settings            (test/SettingsDoc.test.ts fails while the two differ)
import { readFileSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { withSettingsTable } from "../src/Proxy/Settings/SettingsDoc.js"

const file = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "docs", "settings.md")
writeFileSync(file, withSettingsTable(readFileSync(file, "utf8")))
process.stdout.write(`wrote the settings table of ${path.relative(process.cwd(), file)}\n`)

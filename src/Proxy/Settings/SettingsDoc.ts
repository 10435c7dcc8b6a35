import type { Place } from "./Settings.js"
import { settings } from "./Settings.js"

const where: Record<Place, string> = { top: "top", route: "route", destination: "destination" }

const cell = (text: string) => text.replace(/\|/g, "\\|")

/**
 * The settings table of docs/settings.md, made from the settings table of the
 * code (`Settings.ts`); a test checks the docs hold exactly this, and
 * `npm run docs:settings` writes it there.
 */
export const settingsTable = (): string => {
  const rows = Object.values(settings).map((setting) =>
    [
      setting.flag === undefined
        ? "—"
        : `\`--${setting.flag}${setting.isSwitch ? "" : ` ${cell(setting.metavar)}`}\``,
      setting.env === undefined ? "—" : `\`${setting.env}\``,
      setting.fileKey === undefined ? "—" : `\`${setting.fileKey}\``,
      setting.places.length === 0 ? "command line only" : setting.places.map((place) => where[place]).join(", "),
      cell(setting.defaultText),
      cell(setting.help)
    ].join(" | ")
  )
  return [
    "| flag | env variable | file key | where in the file | default | meaning |",
    "|---|---|---|---|---|---|",
    ...rows.map((row) => `| ${row} |`)
  ].join("\n")
}

export const tableStart =
  "<!-- settings table: generated from src/Proxy/Settings/Settings.ts by `npm run docs:settings`; do not edit -->"
export const tableEnd = "<!-- end of settings table -->"

/** `document` with the text between the markers replaced by the table. */
export const withSettingsTable = (document: string): string => {
  const start = document.indexOf(tableStart)
  const end = document.indexOf(tableEnd)
  if (start < 0 || end < start) throw new Error("the settings table's markers are missing")
  return `${document.slice(0, start + tableStart.length)}\n${settingsTable()}\n${document.slice(end)}`
}

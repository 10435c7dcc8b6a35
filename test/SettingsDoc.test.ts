/** docs/settings.md's table is the code's settings table (run `npm run docs:settings` after changing it). */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { settingsTable, tableEnd, tableStart } from "../src/Proxy/Settings/SettingsDoc.js"
import { settings } from "../src/Proxy/Settings/Settings.js"
import { repoRoot } from "./support/Cli.js"

describe("docs/settings.md", () => {
  const doc = fs.readFileSync(path.join(repoRoot, "docs", "settings.md"), "utf8")

  it("holds exactly the table generated from src/Proxy/Settings/Settings.ts", () => {
    const inDoc = doc.slice(doc.indexOf(tableStart) + tableStart.length, doc.indexOf(tableEnd)).trim()
    expect(inDoc, "run `npm run docs:settings`").toBe(settingsTable())
  })

  it("has a row for every setting, with its flag, variable and file key", () => {
    for (const setting of Object.values(settings)) {
      if (setting.flag !== undefined) expect(doc).toContain(`\`--${setting.flag}${setting.isSwitch ? "`" : " "}`)
      if (setting.env !== undefined) expect(doc).toContain(`\`${setting.env}\``)
      if (setting.fileKey !== undefined) expect(doc).toContain(`\`${setting.fileKey}\``)
    }
  })
})

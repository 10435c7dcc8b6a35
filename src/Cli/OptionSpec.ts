import type { SettingKey } from "../Proxy/Settings/Settings.js"
import { settings } from "../Proxy/Settings/Settings.js"

/** One option of a command, as `--help` shows it. */
export interface OptionSpec {
  /** Without its dashes. */
  readonly flag: string
  /** What the value looks like (`DURATION`); absent for a switch such as `--check`. */
  readonly metavar: string | undefined
  readonly help: string
  /** `3s`, `off`, `required`; absent for a switch. */
  readonly defaultText: string | undefined
  readonly env: string | undefined
  readonly repeatable: boolean
}

/** The option of a setting of the table. */
export const settingOption = (key: SettingKey, overrides: Partial<OptionSpec> = {}): OptionSpec => {
  const setting = settings[key]
  if (setting.flag === undefined) throw new Error(`setting ${key} has no flag`)
  return {
    flag: setting.flag,
    metavar: setting.isSwitch ? undefined : setting.metavar,
    help: setting.help,
    defaultText: setting.defaultText,
    env: setting.env,
    repeatable: setting.repeatable,
    ...overrides
  }
}

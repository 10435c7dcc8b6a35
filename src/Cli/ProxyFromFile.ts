import { Effect } from "effect"
import { UsageError } from "../Proxy/Errors.js"

export interface FromFile {
  readonly file: string
  readonly check: boolean
  readonly flags: Readonly<Record<string, string | undefined>>
}

export const runFromFile = (options: FromFile) =>
  Effect.fail(new UsageError({ detail: `--config ${options.file}: not supported yet` }))

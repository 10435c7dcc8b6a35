import * as Either from "effect/Either"
import * as YAML from "yaml"

/** The file's formats, by extension. */
export const formatOf = (file: string): "yaml" | "json" | undefined =>
  /\.ya?ml$/i.test(file) ? "yaml" : /\.json$/i.test(file) ? "json" : undefined

/** The file's text as plain data, or one line saying where it does not parse. */
export const parseText = (format: "yaml" | "json", text: string): Either.Either<unknown, string> => {
  if (format === "json") {
    return Either.try({
      try: (): unknown => JSON.parse(text),
      catch: (error) => `not valid JSON: ${error instanceof Error ? error.message : String(error)}`
    })
  }
  // Duplicate keys are errors (uniqueKeys is the default); so is anything but plain data.
  const document = YAML.parseDocument(text, { prettyErrors: true })
  const error = document.errors[0]
  // The first line of a pretty error is the message and where: "... at line 2, column 1:".
  if (error !== undefined) return Either.left(`not valid YAML: ${error.message.split("\n")[0]!.replace(/:$/, "")}`)
  return Either.right(document.toJS({ maxAliasCount: 100 }))
}

/** What the top of the file must be: a map. */
export const describeTop = (data: unknown): string | undefined =>
  data === null || data === undefined
    ? "the file is empty: expected a map of settings with routes"
    : typeof data !== "object" || Array.isArray(data)
    ? `expected a map of settings with routes, got ${Array.isArray(data) ? "a list" : JSON.stringify(data)}`
    : undefined

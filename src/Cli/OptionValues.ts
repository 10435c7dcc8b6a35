import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import { UsageError } from "../Proxy/Errors.js"
import type { OptionSpec } from "./OptionSpec.js"

/**
 * The @effect/cli options for `specs`, each as text that may be given any number
 * of times: the command checks repeats itself (`single`), so every rejection is
 * its one line naming the flag, not the library's "unknown argument". A switch
 * (no metavar) given reads as the text `true`, as its env variable may say.
 */
export const textOptions = <K extends string>(
  specs: Readonly<Record<K, OptionSpec>>
): Options.Options<Readonly<Record<K, ReadonlyArray<string>>>> =>
  Options.all(
    Object.fromEntries(
      (Object.entries(specs) as Array<[K, OptionSpec]>).map(([key, spec]) => [
        key,
        spec.metavar === undefined
          ? Options.boolean(spec.flag).pipe(Options.map((on): ReadonlyArray<string> => on ? ["true"] : []))
          : Options.text(spec.flag).pipe(Options.repeated)
      ])
    ) as Record<string, Options.Options<ReadonlyArray<string>>>
  ).pipe(Options.map((values) => values as Readonly<Record<K, ReadonlyArray<string>>>))

/** The value of a flag that may be given once; absent if not given. */
export const single = (
  spec: OptionSpec,
  values: ReadonlyArray<string>
): Effect.Effect<string | undefined, UsageError> =>
  values.length <= 1
    ? Effect.succeed(values[0])
    : Effect.fail(
      new UsageError({
        detail: `--${spec.flag} given ${values.length} times (${
          values.map((v) => JSON.stringify(v)).join(", ")
        }): give it once`
      })
    )

/** Every once-only flag of `specs`, checked and taken out of their lists. */
export const singles = <K extends string>(
  specs: Readonly<Record<K, OptionSpec>>,
  values: Readonly<Record<K, ReadonlyArray<string>>>
): Effect.Effect<Readonly<Record<K, string | undefined>>, UsageError> =>
  Effect.map(
    Effect.forEach(Object.keys(specs) as Array<K>, (key) =>
      Effect.map(
        specs[key].repeatable ? Effect.succeed(values[key].at(-1)) : single(specs[key], values[key]),
        (value) => [key, value] as const
      )),
    (entries) => Object.fromEntries(entries) as Record<K, string | undefined>
  )

#!/usr/bin/env node
import { ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Data, Effect, Exit, Layer, Logger } from "effect"
import { defaultPrintingLogger } from "./Cli/LogFormatOption.js"
import { runCli } from "./Cli/Run.js"

/** The program's failure, already reported on stderr; carries the exit code. */
class ExitWith extends Data.TaggedError("ExitWith")<{ readonly code: number }> {}

/** Usage errors exit 2, a port we cannot listen on exits 1; each is one line on stderr. */
const reportFailure = (error: { readonly _tag: string; readonly message?: string } | ValidationError.ValidationError) => {
  if (ValidationError.isValidationError(error)) {
    // @effect/cli has printed it already.
    return Effect.fail(new ExitWith({ code: 2 }))
  }
  const code = error._tag === "ListenError" ? 1 : 2
  return Console.error(`socket-proxy: ${error.message}`).pipe(Effect.zipRight(Effect.fail(new ExitWith({ code }))))
}

const main = runCli(process.argv).pipe(
  Effect.catchAll(reportFailure),
  Effect.provide(Layer.merge(NodeContext.layer, Logger.replace(Logger.defaultLogger, defaultPrintingLogger)))
)

NodeRuntime.runMain(main, {
  disablePrettyLogger: true,
  disableErrorReporting: true,
  teardown: (exit, onExit) => {
    if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return onExit(0)
    const failure = Cause.failureOption(exit.cause)
    if (failure._tag === "Some" && failure.value instanceof ExitWith) return onExit(failure.value.code)
    // A defect: this is a bug, so show everything there is.
    process.stderr.write(`socket-proxy: unexpected error\n${Cause.pretty(exit.cause)}\n`)
    onExit(70)
  }
})

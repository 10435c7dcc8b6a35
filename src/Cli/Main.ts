/** The program, once `src/main.ts` has found that it is not `--help` or `--version`. */
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { defaultPrintingLogger } from "./LogFormatOption.js"
import { runCli } from "./Run.js"

/** The program's failure, already reported on stderr; carries the exit code. */
class ExitWith extends Data.TaggedError("ExitWith")<{ readonly code: number }> {}

/** Usage errors exit 2, a port we cannot listen on exits 1; each is one line on stderr. */
const reportFailure = (
  error: { readonly _tag: string; readonly message?: string } | ValidationError.ValidationError
) => {
  if (ValidationError.isValidationError(error)) {
    // @effect/cli has printed it already.
    return Effect.fail(new ExitWith({ code: 2 }))
  }
  const code = error._tag === "ListenError" ? 1 : 2
  return Console.error(`socket-proxy: ${error.message}`).pipe(Effect.zipRight(Effect.fail(new ExitWith({ code }))))
}

const main = runCli(process.argv).pipe(
  Effect.catchAll(reportFailure),
  // What @effect/cli needs (CliApp.Environment), not all of NodeContext: its command executor and
  // worker modules would be loaded for nothing.
  Effect.provide(Layer.mergeAll(
    NodeFileSystem.layer,
    NodePath.layer,
    NodeTerminal.layer,
    Logger.replace(Logger.defaultLogger, defaultPrintingLogger)
  ))
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

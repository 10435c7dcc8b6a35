/**
 * `npm run soak -- --minutes N [--sources 200] [--destinations 3] [--seed S] [--framing u32be]`:
 * the proxy under random faults for N minutes; prints the report and exits 1 on
 * any integrity violation, unbalanced counter or leak. `SEED=...` replays a run's
 * fault schedule.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Duration, Effect } from "effect"
import { parseArgs } from "node:util"
import { newSeed } from "./FaultSchedule.js"
import { formatReport } from "./Report.js"
import { runSoak } from "./Soak.js"

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "2" },
    sources: { type: "string", default: "200" },
    destinations: { type: "string", default: "3" },
    seed: { type: "string" },
    rate: { type: "string", default: "5" },
    payload: { type: "string", default: "100" },
    margin: { type: "string", default: "10" },
    // `u32be`: the proxy with --framing u32be, each record after its length (issue 13).
    framing: { type: "string", default: "none" }
  }
})

if (values.framing !== "none" && values.framing !== "u32be") {
  console.error(`--framing ${values.framing}: expected none or u32be`)
  process.exit(2)
}

const seed = Number(values.seed ?? process.env["SEED"] ?? newSeed())
const sources = Number(values.sources)
const destinations = Number(values.destinations)
const groups = Math.max(1, Math.min(8, Math.ceil(sources / 50)))

const program = Effect.gen(function*() {
  const report = yield* runSoak({
    seed,
    rounds: Number.MAX_SAFE_INTEGER,
    duration: Duration.minutes(Number(values.minutes)),
    sourceGroups: groups,
    connectionsPerGroup: Math.ceil(sources / groups),
    destinations,
    recordsPerSecond: Number(values.rate),
    meanPayload: Number(values.payload),
    writeTimeout: Duration.seconds(2),
    loadMargin: Duration.seconds(Number(values.margin)),
    framing: values.framing === "u32be" ? "u32be" : "none",
    log: (line) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`)
  })
  console.log(formatReport(report, { sources: groups * Math.ceil(sources / groups), destinations }))
  if (report.failures.length > 0) process.exitCode = 1
}).pipe(Effect.scoped)

// runMain: Ctrl-C interrupts the soak, and its scope SIGKILLs every process it started.
NodeRuntime.runMain(program)

/**
 * A short seeded fault run against the proxy as its own process: a few rounds of
 * random faults (kills, resets, stalls, half-closes, bursts), each followed by the
 * flow, integrity and leak checks of the soak. The seed is printed; `SEED=...`
 * replays the same schedule.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { newSeed } from "../../soak/FaultSchedule.js"
import { formatReport } from "../../soak/Report.js"
import { runSoak } from "../../soak/Soak.js"

const seed = Number(process.env["SEED"] ?? newSeed())

describe("seeded faults against the proxy process", () => {
  it.scopedLive(`keeps every byte accounted for and leaks nothing (SEED=${seed})`, () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const report = yield* runSoak({
        seed,
        rounds: 4,
        duration: Duration.seconds(90),
        sourceGroups: 2,
        connectionsPerGroup: 10,
        destinations: 3,
        recordsPerSecond: 10,
        meanPayload: 200,
        writeTimeout: Duration.seconds(2),
        loadMargin: Duration.seconds(15),
        log: (line) => log.push(line)
      })
      const text = `${log.join("\n")}\n${formatReport(report, { sources: 20, destinations: 3 })}`
      // Shown with the failure: the schedule, the seed and what went wrong.
      expect(report.failures, text).toEqual([])
      expect(report.rounds).toBeGreaterThan(0)
      expect(report.ledger.linksChecked, text).toBeGreaterThan(0)
    }), { timeout: 240_000 })
})

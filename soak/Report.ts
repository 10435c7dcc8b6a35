/** The soak's report, as text for a person. */
import { Duration } from "effect"
import { chart } from "./Chart.js"
import type { SoakReport } from "./Soak.js"

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`
const mbps = (bytesPerSecond: number) => `${(bytesPerSecond / 1e6).toFixed(2)} MB/s`

export const formatReport = (
  report: SoakReport,
  shape: { readonly sources: number; readonly destinations: number }
): string => {
  const seconds = Duration.toSeconds(report.elapsed)
  const ledger = report.ledger
  const lines = [
    "",
    `=== soak report: seed ${report.seed}, ${report.rounds} fault rounds in ${
      Duration.format(Duration.seconds(Math.round(seconds)))
    } ===`,
    `shape:       ${shape.sources} sources x ${shape.destinations} destinations; ${report.sourceConnections} source connections over the run`,
    `throughput:  ${mbps(report.bytesSent / Math.max(1, seconds))} from the sources on average (${
      mib(report.bytesSent)
    } sent), ` +
    `${mbps(ledger.bytesDelivered / Math.max(1, seconds))} delivered across all destinations`,
    `integrity:   ${
      report.failures.length === 0 ? "OK" : "FAILED"
    }: ${ledger.linksChecked} links checked byte by byte, ` +
    `${ledger.linksExact} of them exact (nothing dropped, no destination fault); ${ledger.violations.length} violations`,
    `accounting:  received ${ledger.bytesReceived} B from the sources` +
    (ledger.bytesGiven === shape.destinations * ledger.bytesReceived
      ? `, ${shape.destinations} x that given to the destinations`
      : `, ${ledger.bytesGiven} B given to the destinations (reloads removed and added some)`) +
    `; delivered ${ledger.bytesDelivered} B + dropped ${ledger.bytesDropped} B` +
    (ledger.bytesDelivered + ledger.bytesDropped === ledger.bytesGiven
      ? " = given; every link balanced, 0 buffered at close"
      : " ≠ given: see the violations") +
    (report.metrics ? "" : " (links not reported: the proxy has no --log-format json)"),
    `             ${report.unverifiableSources} source connections ended with a killed proxy (no counts to balance); ${report.reloads} reloads applied`,
    `recovery:    after a round's faults, sources already connected flowed again to every live destination within ${
      Duration.format(report.maxRecovery)
    } at worst; every source, new connections included, within ${Duration.format(report.maxColdStart)}`,
    `leaks:       sockets ${report.baseline.sockets} idle at start, ${report.final.sockets} at the end; fibers ${
      report.baseline.fibers ?? "?"
    } -> ${report.final.fibers ?? "?"}; memory ${mib(report.baseline.rssBytes)} loaded -> ${
      mib(report.final.rssBytes)
    } idle at the end`,
    "",
    chart("proxy resident memory", report.samples.map((s) => s.rssBytes), { unit: mib, seconds }),
    "",
    chart("throughput from the sources", report.samples.map((s) => s.bytesPerSecond), { unit: mbps, seconds }),
    ""
  ]
  if (report.failures.length > 0)
    lines.push(
      "FAILURES:",
      ...report.failures.map((f) => `- ${f}`),
      `reproduce: SEED=${report.seed}`
    )
  return lines.join("\n")
}

/**
 * Integrity across connections: what every destination received of every source
 * connection, set against what the proxy says it received, delivered and dropped.
 * Pure: the soak feeds it the events it collected and gets violations back, each
 * a sentence naming the fault.
 *
 * Rules, per source connection S and destination d:
 * - the proxy's counters balance: what a link was given = delivered + dropped +
 *   buffered, and buffered = 0 once S is closed; a source that ended cleanly was
 *   read whole; a link is given S's stream from where it joined (a reload adds a
 *   destination mid-stream) to where it left (a reload removes it), and d is owed
 *   only what its links were given (a destination removed and added again has two);
 * - d's connections never overlap in S's stream (nothing duplicated or reordered);
 * - every byte of S that d missed is explained: by the proxy's dropped count for
 *   (S, d), or by d's own doing (it was restarted, or it reset, stalled or
 *   half-closed that connection itself, losing what its kernel held);
 * - when nothing was dropped and d did nothing to itself, d received exactly
 *   what the proxy says it delivered.
 */
import type { Segment } from "../test/support/Records.js"

export interface DestinationSegment extends Segment {
  /** Index of the destination in the proxy's `--dest` list. */
  readonly destination: number
  /** Which run of that destination's process (it is restarted by faults). */
  readonly generation: number
  /** Accept order within the generation. */
  readonly connection: number
  /** The destination itself reset, stalled or half-closed this connection. */
  readonly faulted: boolean
  /** It ended with the proxy's FIN (not a reset or an error). */
  readonly clean?: boolean
}

export interface DestinationGeneration {
  readonly destination: number
  readonly generation: number
  /** When its process was SIGKILLed (harness clock, ms); undefined while it lives. */
  readonly killedAt: number | undefined
}

export interface LinkCount {
  readonly destination: number
  /** Offset in the source's stream of the first byte given to the link (not 0 when a reload added it). */
  readonly from: number
  /** Bytes given to the link (fewer than the source's when a reload added or removed it). */
  readonly received: number
  readonly delivered: number
  readonly dropped: number
  readonly buffered: number
}

/** The proxy's "connection closed" line for one source connection. */
export interface ProxyClose {
  readonly sourceId: number | undefined
  readonly peer: string
  readonly bytesIn: number
  readonly links: ReadonlyArray<LinkCount>
}

export interface SourceConnection {
  readonly sourceId: number
  /** When the harness learnt it was connected (ms). */
  readonly connectedAt: number
  /** Bytes it wrote, when it half-closed cleanly (all of them were handed to the kernel). */
  readonly cleanlyEndedAfter: number | undefined
}

export interface LedgerInput {
  readonly sources: ReadonlyArray<SourceConnection>
  readonly closes: ReadonlyArray<ProxyClose>
  readonly segments: ReadonlyArray<DestinationSegment>
  readonly generations: ReadonlyArray<DestinationGeneration>
  readonly destinations: number
}

export interface LedgerResult {
  readonly violations: ReadonlyArray<string>
  /** Links (source connection x destination) checked against the proxy's counts. */
  readonly linksChecked: number
  /** Of those, links checked byte-exact (nothing dropped, no fault of the destination's own). */
  readonly linksExact: number
  readonly bytesReceived: number
  readonly bytesDelivered: number
  readonly bytesDropped: number
  /** Bytes given to links: the sources' bytes times the destinations each was given to (reloads change that). */
  readonly bytesGiven: number
}

/** A source that connected this soon after a destination was killed may have overlapped it (event lag). */
const eventLagMillis = 1_000

const describeGaps = (gaps: ReadonlyArray<readonly [number, number]>): string =>
  gaps.slice(0, 3).map(([from, to]) => `${from}..${to}`).join(", ") + (gaps.length > 3 ? ", ..." : "")

interface MergedLink {
  readonly destination: number
  readonly ranges: ReadonlyArray<readonly [number, number]>
  readonly received: number
  readonly delivered: number
  readonly dropped: number
}

/** A source's links, one per destination: a destination removed and added again by reloads had several. */
const mergeLinks = (links: ReadonlyArray<LinkCount>): ReadonlyArray<MergedLink> => {
  const byDestination = new Map<number, Array<LinkCount>>()
  for (const link of links) byDestination.set(link.destination, [...(byDestination.get(link.destination) ?? []), link])
  return [...byDestination].map(([destination, list]) => ({
    destination,
    ranges: list.map((link) => [link.from, link.from + link.received] as const),
    received: list.reduce((sum, link) => sum + link.received, 0),
    delivered: list.reduce((sum, link) => sum + link.delivered, 0),
    dropped: list.reduce((sum, link) => sum + link.dropped, 0)
  }))
}

export const checkLedger = (input: LedgerInput): LedgerResult => {
  const violations: Array<string> = []
  let linksChecked = 0
  let linksExact = 0
  let bytesReceived = 0
  let bytesDelivered = 0
  let bytesDropped = 0
  let bytesGiven = 0
  const sources = new Map(input.sources.map((source) => [source.sourceId, source]))
  const segmentsBySource = new Map<number, Array<DestinationSegment>>()
  for (const segment of input.segments) {
    if (segment.sourceId === undefined) continue
    const list = segmentsBySource.get(segment.sourceId) ?? []
    list.push(segment)
    segmentsBySource.set(segment.sourceId, list)
  }
  const generationsOf = (destination: number) =>
    input.generations.filter((g) => g.destination === destination).sort((a, b) => a.generation - b.generation)

  for (const close of input.closes) {
    const name = close.sourceId === undefined ? `the source at ${close.peer}` : `source ${close.sourceId}`
    bytesReceived += close.bytesIn
    for (const link of close.links) {
      bytesDelivered += link.delivered
      bytesDropped += link.dropped
      bytesGiven += link.received
      if (link.received !== link.delivered + link.dropped + link.buffered) {
        violations.push(
          `unbalanced byte accounting for ${name} to destination ${link.destination}: given ${link.received} ≠ delivered ${link.delivered} + dropped ${link.dropped} + buffered ${link.buffered}`
        )
      }
      if (link.from < 0 || link.from + link.received > close.bytesIn) {
        violations.push(
          `${name}'s link to destination ${link.destination} was given stream bytes ${link.from}..${
            link.from + link.received
          }, past the ${close.bytesIn} the proxy received`
        )
      }
      if (link.buffered !== 0) {
        violations.push(`${name} closed with ${link.buffered} bytes still buffered for destination ${link.destination}`)
      }
    }
    if (close.sourceId === undefined) continue
    const source = sources.get(close.sourceId)
    if (source?.cleanlyEndedAfter !== undefined && source.cleanlyEndedAfter !== close.bytesIn) {
      violations.push(
        `the proxy received ${close.bytesIn} bytes of ${name}, which sent ${source.cleanlyEndedAfter} and closed cleanly`
      )
    }
    const segments = segmentsBySource.get(close.sourceId) ?? []
    for (const link of mergeLinks(close.links)) {
      linksChecked++
      // The parts of [from, to) that d was owed: those given to one of its links.
      const owed = (from: number, to: number): ReadonlyArray<readonly [number, number]> =>
        link.ranges.flatMap(([start, end]) => {
          const [low, high] = [Math.max(from, start), Math.min(to, end)]
          return low < high ? [[low, high] as const] : []
        })
      const generations = generationsOf(link.destination)
      let unexplained: Array<readonly [number, number]> = []
      let received = 0
      let segmentsSeen = 0
      let destinationFault = false
      for (const generation of generations) {
        // A run that was over before this source connected never had a chance to see it.
        if (
          generation.killedAt !== undefined && source !== undefined &&
          generation.killedAt + eventLagMillis < source.connectedAt
        ) {
          continue
        }
        const mine = segments
          .filter((s) => s.destination === link.destination && s.generation === generation.generation)
          .sort((a, b) => a.connection - b.connection)
        const previous = generations.find((g) => g.generation === generation.generation - 1)
        // This run of the destination started while the source was already sending to the one before.
        const restartedDuring = previous?.killedAt !== undefined && source !== undefined &&
          source.connectedAt < previous.killedAt + eventLagMillis
        if (restartedDuring) destinationFault = true
        const killedDuring = generation.killedAt !== undefined
        if (killedDuring) destinationFault = true
        let end = 0
        let excused = restartedDuring
        for (const segment of mine) {
          received += segment.bytes
          segmentsSeen++
          if (segment.firstOffset < end) {
            violations.push(
              `duplicated bytes: destination ${link.destination} received stream bytes ${segment.firstOffset}..${end} of ${name} twice (connection ${segment.connection} repeats an earlier one)`
            )
          } else if (segment.firstOffset > end) {
            if (!excused) unexplained.push(...owed(end, segment.firstOffset))
          }
          end = Math.max(end, segment.endOffset)
          excused = segment.faulted
          if (segment.faulted) destinationFault = true
        }
        // The tail after the last connection, when this run saw the source to its end.
        if (!killedDuring && mine.length > 0 && !excused) unexplained.push(...owed(end, close.bytesIn))
      }
      // Not one connection for this source, from a destination that was there all along.
      if (segmentsSeen === 0 && !destinationFault) unexplained.push(...owed(0, close.bytesIn))
      const unexplainedBytes = unexplained.reduce((sum, [from, to]) => sum + (to - from), 0)
      if (unexplainedBytes > link.dropped) {
        violations.push(
          `destination ${link.destination} missed ${unexplainedBytes} bytes of ${name} (stream offsets ${
            describeGaps(unexplained)
          }) but the proxy reported ${link.dropped} dropped for it`
        )
        unexplained = []
      }
      if (!destinationFault && link.dropped === 0) {
        linksExact++
        if (received !== link.delivered) {
          violations.push(
            `destination ${link.destination} received ${received} bytes of ${name} but the proxy reported ${link.delivered} delivered and nothing dropped`
          )
        }
      }
    }
  }
  return { violations, linksChecked, linksExact, bytesReceived, bytesDelivered, bytesDropped, bytesGiven }
}

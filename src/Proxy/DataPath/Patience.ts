import * as Duration from "effect/Duration"

/**
 * The policy that decides when a destination is too slow, as pure functions of
 * plain numbers (milliseconds on the session's clock): no sockets, no fibers.
 * `Forwarder` keeps the numbers; `Session` and `Forwarder` call these to decide.
 *
 * The rules:
 * - The source waits for a destination whose write the kernel pushed back, with more
 *   queued behind it, for up to `pushBackGraceMillis`, as plain Node would: a busy
 *   destination, not a slow one, and the kernel gathers full reads meanwhile. Past
 *   that, its buffer takes what comes.
 * - A destination "holds the source back" while its buffer is full.
 * - It is blamed only while it holds the source back and another connected
 *   destination could take more now (is hungry). Destinations of equal speed behind a
 *   faster source hold it back together and none is blamed: the source just goes at
 *   their pace.
 * - A stretch of blame ends once the destination has not held the source back for a
 *   tenth of its patience, or at once when it is hungry while another holds the source
 *   back. A destination blamed for its whole patience is cut.
 * - Patience is `--write-timeout`; after a cut, a tenth of it (probation), until the
 *   destination has kept up for a whole `--write-timeout` on a connection.
 * - Whoever is blamed, a single write the kernel does not take for `--write-timeout`
 *   is a cut (a destination that takes nothing at all), and so is one that has not
 *   taken the rest `--write-timeout` after the source ended.
 * - A lone destination is never blamed: there is no other one to be hungry.
 */

/** How long a destination may hold the source back at a stretch. */
export const patienceMillis = (writeTimeoutMillis: number, onProbation: boolean): number =>
  onProbation ? writeTimeoutMillis / 10 : writeTimeoutMillis

/**
 * How long the source waits for a destination whose write is pushed back before that
 * destination's buffer takes over. Long enough that a destination that keeps up
 * (its write completes within microseconds to a few milliseconds) is simply waited
 * for; short enough that the others barely notice one that stalls.
 */
export const pushBackGraceMillis = 10

/** What one destination is doing for the source at one moment. */
export type Role =
  /** Its buffer is full: the source is paused for it, and it may be blamed for that. */
  | "holding"
  /** Its write is pushed back, with more queued, within the grace: the source waits for it, blaming no one. */
  | "busy"
  /** Connected, and its write (if any) was taken by the kernel at once: it could take more now. */
  | "hungry"
  /** None of these: connecting, down, or pushed back past the grace, its buffer taking what comes. */
  | "other"

/** The numbers the stall policy keeps for one destination. */
export interface StallClock {
  /** When its current stretch of blame began; undefined outside one. */
  readonly blamedSince: number | undefined
  /** When it last held the source back. */
  readonly lastHeldAt: number
}

/**
 * When the destination last held the source back, looking at `now`. The fan-out looks
 * only when something happens, so a destination seen holding (or busy) at the last
 * look has held the source back until this one: a hold is measured to its end, not
 * to the moment it was first seen.
 */
export const nextLastHeldAt = (previousRole: Role, role: Role, lastHeldAt: number, now: number): number =>
  role === "holding" || previousRole === "holding" || previousRole === "busy" ? now : lastHeldAt

/**
 * The stall clock after looking at every destination at `now`: `role` is this
 * destination's, `othersHungry` whether another one is hungry, `anyHolding`
 * whether the source waits for any one (holding or busy).
 */
export const nextBlamedSince = (
  clock: StallClock,
  role: Role,
  othersHungry: boolean,
  anyHolding: boolean,
  now: number,
  patience: number
): number | undefined => {
  if (role === "holding") return othersHungry ? clock.blamedSince ?? now : undefined
  if (role === "hungry" && anyHolding) return undefined
  if (clock.blamedSince !== undefined && now - clock.lastHeldAt >= patience / 10) return undefined
  return clock.blamedSince
}

/** Whether a destination on probation stays on it: until it kept up, connected, for a whole `writeTimeout`. */
export const staysOnProbation = (
  onProbation: boolean,
  connectedAt: number | undefined,
  lastHeldAt: number,
  now: number,
  writeTimeoutMillis: number
): boolean => onProbation && (connectedAt === undefined || now - Math.max(connectedAt, lastHeldAt) < writeTimeoutMillis)

/** What a destination's fiber is to do next. */
export type Verdict =
  | { readonly _tag: "Done" }
  | { readonly _tag: "Fail"; readonly reason: string }
  | { readonly _tag: "WaitUntil"; readonly deadline: number }

export const done: Verdict = { _tag: "Done" }
export const fail = (reason: string): Verdict => ({ _tag: "Fail", reason })
export const waitUntil = (deadline: number): Verdict => ({ _tag: "WaitUntil", deadline })

/** What the verdict on a connected destination depends on. */
export interface ConnectedFacts {
  readonly now: number
  readonly writeTimeoutMillis: number
  readonly patience: number
  /** When the source ended; undefined while it is open. */
  readonly sourceEndedAt: number | undefined
  readonly heldBytes: number
  /** When the write the kernel pushes back on was handed to it; undefined when none is. */
  readonly pushedBackSince: number | undefined
  /** Blamed at the last look, since then; undefined when not blamed. */
  readonly blamedSince: number | undefined
}

/** Done once the source ended and all was delivered; a cut once a rule above says so; else when to look again. */
export const connectedVerdict = (facts: ConnectedFacts): Verdict => {
  const { now, writeTimeoutMillis } = facts
  let deadline = Number.POSITIVE_INFINITY
  if (facts.sourceEndedAt !== undefined) {
    if (facts.heldBytes === 0) return done
    const flushBy = facts.sourceEndedAt + writeTimeoutMillis
    if (now >= flushBy)
      return fail(`it did not take the rest within ${formatMillis(writeTimeoutMillis)} of the source's end`)
    deadline = flushBy
  }
  if (facts.pushedBackSince !== undefined) {
    const writeBy = facts.pushedBackSince + writeTimeoutMillis
    if (now >= writeBy) return fail(`a write did not complete within ${formatMillis(writeTimeoutMillis)}`)
    deadline = Math.min(deadline, writeBy)
  }
  if (facts.blamedSince !== undefined) {
    const cutAt = facts.blamedSince + facts.patience
    if (now >= cutAt) return fail(`it held the source back for ${formatMillis(facts.patience)}`)
    deadline = Math.min(deadline, cutAt)
  }
  return waitUntil(deadline)
}

/** What the verdict on a connection attempt depends on. */
export interface DialFacts {
  readonly now: number
  readonly startedAt: number
  readonly connectTimeoutMillis: number
  /** Nothing is held and the source has ended: a connection would only be opened to be closed. */
  readonly nothingToSend: boolean
  /** For the first attempt, which holds the source back: blamed since then, and its patience. */
  readonly blamedSince: number | undefined
  readonly patience: number
}

/**
 * Done (give up the attempt, nothing to send), Fail (it timed out), or when to look
 * again. A first attempt blamed for its whole patience stops holding the source back:
 * `stopsHoldingBack` says when.
 */
export const dialVerdict = (facts: DialFacts): Verdict => {
  if (facts.nothingToSend) return done
  const timeoutAt = facts.startedAt + facts.connectTimeoutMillis
  if (facts.now >= timeoutAt) return fail(`no answer within ${formatMillis(facts.connectTimeoutMillis)}`)
  return waitUntil(Math.min(timeoutAt, stopsHoldingBackAt(facts.blamedSince, facts.patience)))
}

/** When a first attempt blamed since `blamedSince` stops holding the source back. */
export const stopsHoldingBackAt = (blamedSince: number | undefined, patience: number): number =>
  blamedSince === undefined ? Number.POSITIVE_INFINITY : blamedSince + patience

const formatMillis = (millis: number): string => Duration.format(Duration.millis(millis))

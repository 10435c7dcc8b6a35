import { describe, expect, it } from "@effect/vitest"
import type { ConnectedFacts, DialFacts, Role } from "../src/Proxy/DataPath/Patience.js"
import {
  connectedVerdict,
  dialVerdict,
  nextBlamedSince,
  nextLastHeldAt,
  patienceMillis,
  staysOnProbation,
  stopsHoldingBackAt
} from "../src/Proxy/DataPath/Patience.js"

const writeTimeout = 1000

/** One destination as the fan-out sees it at one look. */
interface Look {
  readonly role: Role
}

/**
 * Plays looks at every destination, `step` ms apart, the way the fan-out does, and
 * returns each destination's stall clock after the last one, with the first time
 * each would have been cut (its stretch of blame reaching its patience).
 */
const play = (looks: ReadonlyArray<ReadonlyArray<Look>>, step: number, patience = writeTimeout) =>
  playAt(looks.map((look, index) => ({ at: index * step, look })), patience)

/** The same, with a time of its own for each look: the fan-out looks only when something happens. */
const playAt = (
  looks: ReadonlyArray<{ readonly at: number; readonly look: ReadonlyArray<Look> }>,
  patience = writeTimeout
) => {
  const count = looks[0]!.look.length
  const previous: Array<Role> = Array.from({ length: count }, () => "other")
  const clocks: Array<{ blamedSince: number | undefined; lastHeldAt: number }> = Array.from(
    { length: count },
    () => ({ blamedSince: undefined, lastHeldAt: 0 })
  )
  const cutAt: Array<number | undefined> = Array.from({ length: count }, () => undefined)
  looks.forEach(({ at: now, look }) => {
    const hungry = look.filter((d) => d.role === "hungry").length
    const waitedFor = look.some((d) => d.role === "holding" || d.role === "busy")
    look.forEach((d, i) => {
      const clock = clocks[i]!
      clock.lastHeldAt = nextLastHeldAt(previous[i]!, d.role, clock.lastHeldAt, now)
      previous[i] = d.role
      const othersHungry = hungry - (d.role === "hungry" ? 1 : 0) > 0
      clock.blamedSince = nextBlamedSince(clock, d.role, othersHungry, waitedFor, now, patience)
      if (clock.blamedSince !== undefined && now - clock.blamedSince >= patience) cutAt[i] ??= now
    })
  })
  return { clocks, cutAt }
}

const repeat = <A>(times: number, make: (i: number) => A): Array<A> => Array.from({ length: times }, (_, i) => make(i))
const look = (...roles: ReadonlyArray<Role>): Array<Look> => roles.map((role) => ({ role }))

describe("the stall policy (Patience)", () => {
  it("destinations of equal speed behind a faster source are not cut: full in turn, never while the other is hungry", () => {
    // Both saturated: each is full while the other's write is pushed back; now and then both are full.
    const looks = repeat(
      400,
      (i) => (i % 3 === 0
        ? look("holding", "holding")
        : i % 3 === 1
        ? look("holding", "other")
        : look("other", "holding"))
    )
    const { cutAt } = play(looks, 10)
    expect(cutAt).toEqual([undefined, undefined])
  })

  it("a destination that takes nothing while another is hungry is cut after its patience", () => {
    const { cutAt } = play(repeat(200, () => look("holding", "hungry")), 10)
    expect(cutAt[0]).toBe(1000)
    expect(cutAt[1]).toBeUndefined()
  })

  it("a destination that reads, but slower than the source sends, is cut although it holds it back only briefly each time", () => {
    // Full for 10 ms out of every 30 ms: its stretch goes on through the gaps.
    const looks = repeat(300, (i) => (i % 3 === 0 ? look("holding", "hungry") : look("other", "hungry")))
    const { cutAt } = play(looks, 10)
    expect(cutAt[0]).toBeLessThanOrEqual(1100)
  })

  it("a hold is measured to its end: one seen only when it starts and when its write completes still counts whole", () => {
    // Each cycle: full at t while the other is hungry (the source waits, nothing happens), its
    // write completes at t + 150 ms, longer than a tenth of its patience (hungry a moment), full
    // again 1 ms later. Looks happen only at those events.
    const looks = Array.from({ length: 40 }, (_, cycle) => [
      { at: cycle * 151, look: look("holding", "hungry") },
      { at: cycle * 151 + 150, look: look("hungry", "hungry") }
    ]).flat()
    const { cutAt } = playAt(looks)
    expect(cutAt[0]).toBeDefined()
    expect(cutAt[0]!).toBeLessThanOrEqual(1100)
  })

  it("a stretch ends once it has not held the source back for a tenth of its patience", () => {
    const looks = [
      ...repeat(50, () => look("holding", "hungry")),
      ...repeat(11, () => look("other", "hungry")),
      ...repeat(120, () => look("holding", "hungry"))
    ]
    const { cutAt } = play(looks, 10)
    // Blamed for 490 ms, then kept up for 110 ms (> 100): the second stretch starts afresh at 610 ms.
    expect(cutAt[0]).toBe(610 + 1000)
  })

  it("a stretch ends at once when it is hungry while another holds the source back", () => {
    const looks = [
      ...repeat(90, () => look("holding", "hungry")),
      look("hungry", "holding"),
      ...repeat(120, () => look("holding", "hungry"))
    ]
    const { cutAt } = play(looks, 10)
    expect(cutAt[0]).toBe(910 + 1000)
  })

  it("a lone destination is never blamed, however long it holds the source back", () => {
    const { clocks, cutAt } = play(repeat(1000, () => look("holding")), 10)
    expect(cutAt).toEqual([undefined])
    expect(clocks[0]!.blamedSince).toBeUndefined()
  })

  it("a busy destination (pushed back, within the grace) is waited for and not blamed", () => {
    const { cutAt } = play(repeat(300, () => look("busy", "hungry")), 10)
    expect(cutAt).toEqual([undefined, undefined])
  })

  it("on probation, patience is a tenth of --write-timeout", () => {
    expect(patienceMillis(writeTimeout, false)).toBe(1000)
    expect(patienceMillis(writeTimeout, true)).toBe(100)
    const { cutAt } = play(repeat(50, () => look("holding", "hungry")), 10, patienceMillis(writeTimeout, true))
    expect(cutAt[0]).toBe(100)
  })

  it("probation ends once connected and kept up for a whole --write-timeout", () => {
    // Connected at 0, last held the source back at 300.
    expect(staysOnProbation(true, 0, 300, 1299, writeTimeout)).toBe(true)
    expect(staysOnProbation(true, 0, 300, 1300, writeTimeout)).toBe(false)
    // Not connected: it cannot have kept up.
    expect(staysOnProbation(true, undefined, 0, 100_000, writeTimeout)).toBe(true)
    expect(staysOnProbation(false, 0, 0, 0, writeTimeout)).toBe(false)
  })
})

describe("what a connected destination's fiber does (connectedVerdict)", () => {
  const facts: ConnectedFacts = {
    now: 5000,
    writeTimeoutMillis: writeTimeout,
    patience: writeTimeout,
    sourceEndedAt: undefined,
    heldBytes: 100,
    pushedBackSince: undefined,
    blamedSince: undefined
  }
  const verdict = (overrides: Partial<ConnectedFacts>) => connectedVerdict({ ...facts, ...overrides })

  it("waits for a change, with no timer, while nothing is timed", () => {
    expect(verdict({})).toEqual({ _tag: "WaitUntil", deadline: Number.POSITIVE_INFINITY })
  })

  it("is done once the source ended and nothing is held", () => {
    expect(verdict({ sourceEndedAt: 4000, heldBytes: 0 })._tag).toBe("Done")
  })

  it("gives --write-timeout in all to take the rest after the source ended", () => {
    expect(verdict({ sourceEndedAt: 4500 })).toEqual({ _tag: "WaitUntil", deadline: 5500 })
    expect(verdict({ sourceEndedAt: 4000 })).toEqual({
      _tag: "Fail",
      reason: "it did not take the rest within 1s of the source's end"
    })
  })

  it("cuts a write the kernel has not taken for --write-timeout, blamed or not", () => {
    expect(verdict({ pushedBackSince: 4200 })).toEqual({ _tag: "WaitUntil", deadline: 5200 })
    expect(verdict({ pushedBackSince: 4000 })).toEqual({ _tag: "Fail", reason: "a write did not complete within 1s" })
  })

  it("cuts a destination blamed for its whole patience, and wakes when that is due", () => {
    expect(verdict({ blamedSince: 4900 })).toEqual({ _tag: "WaitUntil", deadline: 5900 })
    expect(verdict({ blamedSince: 4000 })).toEqual({ _tag: "Fail", reason: "it held the source back for 1s" })
    expect(verdict({ blamedSince: 4990, patience: 100 })).toEqual({ _tag: "WaitUntil", deadline: 5090 })
  })

  it("wakes at the earliest of its deadlines", () => {
    expect(verdict({ sourceEndedAt: 4800, pushedBackSince: 4700, blamedSince: 4950 })).toEqual({
      _tag: "WaitUntil",
      deadline: 5700
    })
  })
})

describe("what a connecting destination's fiber does (dialVerdict)", () => {
  const facts: DialFacts = {
    now: 1000,
    startedAt: 0,
    connectTimeoutMillis: 3000,
    nothingToSend: false,
    blamedSince: undefined,
    patience: writeTimeout
  }

  it("waits for the attempt until --connect-timeout, then fails it", () => {
    expect(dialVerdict(facts)).toEqual({ _tag: "WaitUntil", deadline: 3000 })
    expect(dialVerdict({ ...facts, now: 3000 })).toEqual({ _tag: "Fail", reason: "no answer within 3s" })
  })

  it("gives up an attempt that has nothing to send once the source has ended", () => {
    expect(dialVerdict({ ...facts, nothingToSend: true })._tag).toBe("Done")
  })

  it("a first attempt blamed for holding the source back stops holding it back after its patience", () => {
    expect(dialVerdict({ ...facts, blamedSince: 500 })).toEqual({ _tag: "WaitUntil", deadline: 1500 })
    expect(stopsHoldingBackAt(500, writeTimeout)).toBe(1500)
    expect(stopsHoldingBackAt(undefined, writeTimeout)).toBe(Number.POSITIVE_INFINITY)
  })
})

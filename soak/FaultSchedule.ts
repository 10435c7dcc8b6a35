/**
 * The seeded fault schedule: which faults each round brings, drawn from a
 * PRNG seeded once, so `SEED=...` replays the same schedule.
 */

/** mulberry32: small, fast, and good enough to pick faults. */
export const prng = (seed: number): () => number => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export type Fault =
  | { readonly kind: "kill-proxy"; readonly restartAfterMs: number }
  | { readonly kind: "kill-destination"; readonly destination: number; readonly restartAfterMs: number }
  | { readonly kind: "kill-sources"; readonly group: number; readonly restartAfterMs: number }
  | { readonly kind: "destination-reset"; readonly destination: number }
  | { readonly kind: "destination-stall"; readonly destination: number; readonly ms: number }
  | { readonly kind: "destination-halfclose"; readonly destination: number }
  | { readonly kind: "sources-vanish"; readonly group: number; readonly n: number }
  | { readonly kind: "sources-halfclose"; readonly group: number; readonly n: number }
  | { readonly kind: "sources-silent"; readonly group: number; readonly n: number; readonly ms: number }
  | { readonly kind: "sources-burst"; readonly group: number; readonly n: number }
  /** Edit the file and reload: remove the destination from the route, or add it back. */
  | { readonly kind: "reload-destination"; readonly destination: number }
  /** Edit the file and reload: add a second route (it listens), or remove it (it stops). */
  | { readonly kind: "reload-route" }

export const describeFault = (fault: Fault): string => {
  switch (fault.kind) {
    case "kill-proxy":
      return `SIGKILL the proxy, restart after ${fault.restartAfterMs}ms`
    case "kill-destination":
      return `SIGKILL destination ${fault.destination}, restart after ${fault.restartAfterMs}ms`
    case "kill-sources":
      return `SIGKILL source group ${fault.group}, restart after ${fault.restartAfterMs}ms`
    case "destination-reset":
      return `destination ${fault.destination} resets its connections mid-write`
    case "destination-stall":
      return `destination ${fault.destination} stops reading (and accepts without reading) for ${fault.ms}ms`
    case "destination-halfclose":
      return `destination ${fault.destination} half-closes its connections`
    case "sources-vanish":
      return `${fault.n} sources of group ${fault.group} vanish (reset)`
    case "sources-halfclose":
      return `${fault.n} sources of group ${fault.group} half-close`
    case "sources-silent":
      return `${fault.n} sources join group ${fault.group}, send nothing, leave after ${fault.ms}ms`
    case "sources-burst":
      return `a burst of ${fault.n} connect/disconnects from group ${fault.group}`
    case "reload-destination":
      return `reload: destination ${fault.destination} removed from the route, or added back`
    case "reload-route":
      return "reload: a second route added, or removed"
  }
}

export interface ScheduleShape {
  readonly destinations: number
  readonly sourceGroups: number
  readonly connectionsPerGroup: number
  /** How long a stalled destination stays stalled: longer than the proxy's write timeout. */
  readonly stallMs: number
  /** Whether the proxy runs from a file the soak can edit and reload. */
  readonly reloads: boolean
}

const reloadMakers = (
  destination: () => number
): ReadonlyArray<readonly [weight: number, make: () => Fault]> => [
  [2, () => ({ kind: "reload-destination", destination: destination() })],
  [1, () => ({ kind: "reload-route" })]
]

/** Draws one round: one to three faults, in a random combination. */
export const drawRound = (random: () => number, shape: ScheduleShape): ReadonlyArray<Fault> => {
  const int = (n: number) => Math.floor(random() * n)
  const between = (low: number, high: number) => low + int(high - low + 1)
  const destination = () => int(shape.destinations)
  const group = () => int(shape.sourceGroups)
  const some = () => between(1, Math.max(1, Math.ceil(shape.connectionsPerGroup / 4)))
  const restart = () => between(100, 2000)
  const makers: ReadonlyArray<readonly [weight: number, make: () => Fault]> = [
    [1, () => ({ kind: "kill-proxy", restartAfterMs: restart() })],
    [2, () => ({ kind: "kill-destination", destination: destination(), restartAfterMs: restart() })],
    [2, () => ({ kind: "kill-sources", group: group(), restartAfterMs: restart() })],
    [2, () => ({ kind: "destination-reset", destination: destination() })],
    [1.5, () => ({ kind: "destination-stall", destination: destination(), ms: shape.stallMs })],
    [1.5, () => ({ kind: "destination-halfclose", destination: destination() })],
    [2, () => ({ kind: "sources-vanish", group: group(), n: some() })],
    [2, () => ({ kind: "sources-halfclose", group: group(), n: some() })],
    [1, () => ({ kind: "sources-silent", group: group(), n: some(), ms: between(200, 2000) })],
    [1, () => ({ kind: "sources-burst", group: group(), n: between(10, 100) })],
    ...(shape.reloads ? reloadMakers(destination) : [])
  ]
  const total = makers.reduce((sum, [weight]) => sum + weight, 0)
  const count = between(1, 3)
  const faults: Array<Fault> = []
  for (let i = 0; i < count; i++) {
    let pick = random() * total
    for (const [weight, make] of makers) {
      pick -= weight
      if (pick <= 0) {
        const fault = make()
        // One fault per process a round: two at once on one target would race each other.
        if (!faults.some((other) => target(other) === target(fault))) faults.push(fault)
        break
      }
    }
  }
  return faults
}

const target = (fault: Fault): string =>
  fault.kind === "kill-proxy"
    ? "proxy"
    : fault.kind === "reload-destination" || fault.kind === "reload-route"
    // A reload signals the proxy: never while it is killed and restarted.
    ? "proxy"
    : "destination" in fault
    ? `destination ${fault.destination}`
    : `group ${fault.group}`

/** A fresh seed, when none was given. */
export const newSeed = (): number => Math.floor(Math.random() * 2 ** 31)

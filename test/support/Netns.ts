/**
 * Test hosts for faults loopback cannot make: each host is a network namespace
 * joined to the root namespace (where the proxy runs) by a veth pair, with a
 * real destination process listening inside it (test/netns/HostDestination.ts). Impairments are applied to the
 * host's own link or inside its own namespace, so nothing on the machine but
 * that host is affected.
 *
 * Names carry the pid and a random tag, and addresses come from a free /30 of
 * the benchmarking range 198.18.0.0/15 (RFC 2544), so parallel runs never
 * collide. The scope deletes the namespace (which deletes the veth pair and
 * every rule inside it) even when the test fails.
 */
import { Duration, Effect } from "effect"
import type { Scope } from "effect"
import { execFile, spawnSync } from "node:child_process"
import { readdirSync, rmSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

// ---------------------------------------------------------------------------
// What this machine can do

/** Each entry: why that capability is missing here, or undefined when it works. */
export interface NetnsSupport {
  /** root, `ip` (iproute2), namespaces and veth pairs. */
  readonly namespaces: string | undefined
  /** `nft` and the kernel's nf_tables: to drop a host's packets (black hole, random loss). */
  readonly nftables: string | undefined
  /** `tc` and the kernel's netem qdisc: delay and loss. */
  readonly netem: string | undefined
  /** `tc` and the kernel's tbf qdisc: a bandwidth bottleneck. */
  readonly tbf: string | undefined
}

const runSync = (command: string, args: ReadonlyArray<string>): string | undefined => {
  const result = spawnSync(command, args, { encoding: "utf8" })
  if (result.error !== undefined) {
    const code = (result.error as NodeJS.ErrnoException).code
    return code === "ENOENT" ? `\`${command}\` is not installed` : `\`${command}\`: ${result.error.message}`
  }
  if (result.status !== 0) return `\`${command} ${args.join(" ")}\` failed: ${result.stderr.trim()}`
  return undefined
}

/**
 * What the tests leave on the machine is named after the test process's PID:
 * namespaces `spnetns-PID-...`, and directories of received bytes
 * `socket-proxy-netns-PID-...` in the temp directory.
 */
const namespacePrefix = "spnetns-"
export const recordingsPrefix = "socket-proxy-netns-"

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/**
 * Deletes the namespaces and recordings of test processes that were killed
 * before their finalizers ran (their destination processes exit once that
 * process is gone).
 */
const reapStaleNamespaces = () => {
  const pidOf = (name: string, prefix: string) => {
    const pid = Number(name.slice(prefix.length).split("-")[0])
    return name.startsWith(prefix) && Number.isInteger(pid) && pid > 0 ? pid : undefined
  }
  const listing = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? ""
  for (const line of listing.split("\n")) {
    const name = line.split(" ")[0] ?? ""
    const pid = pidOf(name, namespacePrefix)
    if (pid !== undefined && !isAlive(pid)) runSync("ip", ["netns", "del", name])
  }
  for (const name of readdirSync(os.tmpdir())) {
    const pid = pidOf(name, recordingsPrefix)
    if (pid !== undefined && !isAlive(pid)) rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true })
  }
}

/** Prefixes what failed with what it was needed for. */
const neededFor = (what: string, failure: string | undefined) =>
  failure === undefined ? undefined : `needs ${what}: ${failure}`

const probeSupport = (): NetnsSupport => {
  const uid = process.getuid?.()
  if (uid !== 0) {
    const reason = `needs root for network namespaces (running as uid ${uid ?? "unknown"})`
    return { namespaces: reason, nftables: reason, netem: reason, tbf: reason }
  }
  reapStaleNamespaces()
  const probe = `${namespacePrefix}${process.pid}-probe-${randomTag()}`
  const namespaces = neededFor("network namespaces (iproute2)", runSync("ip", ["netns", "add", probe]))
  if (namespaces !== undefined) return { namespaces, nftables: namespaces, netem: namespaces, tbf: namespaces }
  try {
    const veth = neededFor(
      "veth pairs",
      runSync("ip", ["-n", probe, "link", "add", "probe0", "type", "veth", "peer", "name", "probe1"])
    )
    if (veth !== undefined) return { namespaces: veth, nftables: veth, netem: veth, tbf: veth }
    const inProbe = (command: string, ...args: Array<string>) =>
      runSync("ip", ["netns", "exec", probe, command, ...args])
    const nftables = neededFor(
      "nftables, to drop a test host's packets",
      runSync("nft", ["--version"]) ?? inProbe("nft", "add", "table", "inet", "probe")
    )
    const tc = runSync("tc", ["-V"])
    const netem = neededFor(
      "tc netem (kernel option CONFIG_NET_SCH_NETEM), for delay and loss",
      tc ?? inProbe("tc", "qdisc", "add", "dev", "probe0", "root", "netem", "delay", "1ms")
    )
    const tbf = neededFor(
      "tc tbf (kernel option CONFIG_NET_SCH_TBF), for a bottleneck",
      tc ??
        inProbe(
          "tc",
          "qdisc",
          "add",
          "dev",
          "probe1",
          "root",
          "tbf",
          "rate",
          "1mbit",
          "burst",
          "16kb",
          "latency",
          "100ms"
        )
    )
    return { namespaces: undefined, nftables, netem, tbf }
  } finally {
    runSync("ip", ["netns", "del", probe])
  }
}

/** Probed when a netns test file loads. */
export const support: NetnsSupport = probeSupport()

/** A skip message naming everything missing, or undefined when the test can run. */
export const missing = (tests: string, ...needs: ReadonlyArray<keyof NetnsSupport>): string | undefined => {
  const reasons = [...new Set(needs.map((need) => support[need]).filter((reason) => reason !== undefined))]
  if (reasons.length === 0) return undefined
  const message = `skipped: ${tests}: ${reasons.join("; ")}`
  // Straight to stderr: a skipped test's name is not shown by the default reporter.
  process.stderr.write(`${message}\n`)
  return message
}

// ---------------------------------------------------------------------------
// Commands

function randomTag(): string {
  return Math.floor(Math.random() * 36 ** 3).toString(36).padStart(3, "0")
}

/** Runs a command to completion; a failure is a broken fixture, so it dies with the command and its stderr. */
const run = (command: string, args: ReadonlyArray<string>, input?: string): Effect.Effect<string> =>
  Effect.async<string>((resume) => {
    const child = execFile(command, [...args], { encoding: "utf8" }, (error, stdout, stderr) => {
      resume(
        error === null
          ? Effect.succeed(stdout)
          : Effect.die(new Error(`\`${command} ${args.join(" ")}\` failed: ${stderr.trim() || error.message}`))
      )
    })
    if (input !== undefined) child.stdin?.end(input)
  })

/** Best effort, for teardown: whatever is already gone stays gone. */
const runQuietly = (command: string, args: ReadonlyArray<string>) => Effect.ignore(Effect.sandbox(run(command, args)))

// ---------------------------------------------------------------------------
// Hosts

const testRange = { first: (198 << 24 | 18 << 16) >>> 0, slots: 2 ** 17 / 4 }

const ipv4 = (value: number) => [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join(".")

/** A /30 of the test range that no interface of the root namespace uses yet. */
const freeSubnet = Effect.map(run("ip", ["-4", "-o", "addr", "show"]), (listing) => {
  while (true) {
    const base = testRange.first + 4 * Math.floor(Math.random() * testRange.slots)
    if (!listing.includes(` ${ipv4(base + 1)}/`)) return base
  }
})

/** Applied to one host, replacing whatever impairment it had. */
export type Impairment =
  /** Every packet to and from the host is dropped: no RST, no FIN, no ICMP. */
  | { readonly _tag: "BlackHole" }
  /** `tc netem` on the link towards the host: what the proxy sends is delayed, and some of it lost. */
  | { readonly _tag: "Netem"; readonly delay: Duration.Duration; readonly lossPercent: number }
  /** `tc tbf` on the link towards the host, and nftables dropping that share of what arrives. */
  | { readonly _tag: "Bottleneck"; readonly rateKbit: number; readonly lossPercent: number }

/** The nftables table every impairment of a host lives in, inside the host's own namespace. */
const nftTable = "socket_proxy_test"

const nftRules = (impairment: Impairment): string | undefined => {
  switch (impairment._tag) {
    case "BlackHole":
      return [
        `table inet ${nftTable} {`,
        "  chain input { type filter hook input priority 0; policy drop; }",
        "  chain output { type filter hook output priority 0; policy drop; }",
        "}"
      ].join("\n")
    case "Bottleneck":
      return [
        `table inet ${nftTable} {`,
        "  chain input {",
        "    type filter hook input priority 0; policy accept;",
        `    numgen random mod 100 < ${impairment.lossPercent} drop`,
        "  }",
        "}"
      ].join("\n")
    case "Netem":
      return undefined
  }
}

const tcArgs = (impairment: Impairment): ReadonlyArray<string> | undefined => {
  switch (impairment._tag) {
    case "Netem":
      return ["netem", "delay", `${Duration.toMillis(impairment.delay)}ms`, "loss", `${impairment.lossPercent}%`]
    case "Bottleneck":
      return ["tbf", "rate", `${impairment.rateKbit}kbit`, "burst", "16kb", "latency", "400ms"]
    case "BlackHole":
      return undefined
  }
}

export interface TestHost {
  /** The host's network namespace. */
  readonly namespace: string
  /** The host's address, inside its namespace. */
  readonly address: string
  /** The root namespace's end of the veth pair. */
  readonly link: string
  readonly impair: (impairment: Impairment) => Effect.Effect<void>
  /** Lifts every impairment: the host is reachable again, at full speed. */
  readonly restore: Effect.Effect<void>
}

let hostsMade = 0

/** A fresh namespace joined to the root namespace by a veth pair; the scope deletes both. */
export const testHost: Effect.Effect<TestHost, never, Scope.Scope> = Effect.gen(function*() {
  const tag = randomTag()
  const index = hostsMade++
  const namespace = `${namespacePrefix}${process.pid}-${tag}-${index}`
  // Interface names have at most 15 characters: "sp" + pid in base 36 (at most 5) + 3 + index + 1.
  const interfacePrefix = `sp${process.pid.toString(36)}${tag}${index}`
  const link = `${interfacePrefix}h`
  const inner = `${interfacePrefix}n`
  yield* Effect.acquireRelease(
    run("ip", ["netns", "add", namespace]),
    // Deleting the namespace deletes the veth pair and every nftables rule in it.
    () => Effect.zipRight(runQuietly("ip", ["link", "del", link]), runQuietly("ip", ["netns", "del", namespace]))
  )
  const base = yield* freeSubnet
  const address = ipv4(base + 2)
  yield* run("ip", ["link", "add", link, "type", "veth", "peer", "name", inner, "netns", namespace])
  yield* run("ip", ["addr", "add", `${ipv4(base + 1)}/30`, "dev", link])
  yield* run("ip", ["link", "set", link, "up"])
  yield* run("ip", ["-n", namespace, "addr", "add", `${address}/30`, "dev", inner])
  yield* run("ip", ["-n", namespace, "link", "set", inner, "up"])
  yield* run("ip", ["-n", namespace, "link", "set", "lo", "up"])

  const restore = Effect.zipRight(
    runQuietly("ip", ["netns", "exec", namespace, "nft", "delete", "table", "inet", nftTable]),
    runQuietly("tc", ["qdisc", "del", "dev", link, "root"])
  )
  const impair = (impairment: Impairment) =>
    Effect.gen(function*() {
      yield* restore
      const rules = nftRules(impairment)
      if (rules !== undefined) yield* run("ip", ["netns", "exec", namespace, "nft", "-f", "-"], rules)
      const qdisc = tcArgs(impairment)
      if (qdisc !== undefined) yield* run("tc", ["qdisc", "add", "dev", link, "root", ...qdisc])
    })
  return { namespace, address, link, impair, restore }
})

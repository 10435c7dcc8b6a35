/**
 * TLS from the configuration file (issue 12): a route's `tls:` map, a
 * destination's `tls:` map (its own CA, `servername`, `insecure-skip-verify`),
 * file names relative to the file; a bad certificate is the file's one line.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { CliExit } from "../support/Cli.js"
import { listeningPort, nonEmptyLines, runCli, spawnCli } from "../support/Cli.js"
import { makePki, openssl } from "../support/Certs.js"
import { destination } from "../support/Peers.js"
import { tlsDestination, tlsSource } from "../support/TlsPeers.js"

const startup = Duration.seconds(30)

const transcript = (exit: CliExit): string =>
  `exit ${exit.code}\n--- stdout\n${exit.stdout}\n--- stderr\n${exit.stderr}`

describe.skipIf(openssl === undefined)("TLS in the configuration file", () => {
  it.scopedLive("a route's tls map; destinations with their own CA, a servername, insecure-skip-verify", () =>
    Effect.gen(function*() {
      const pki = yield* makePki
      // The certificates beside the file, named relative to it.
      const folder = path.join(pki.dir, "conf")
      fs.mkdirSync(folder)
      for (
        const [from, to] of [[pki.serverChain, "server.pem"], [pki.server.key, "server.key"], [pki.ca.cert, "ca.pem"]]
      ) {
        fs.copyFileSync(from!, path.join(folder, to!))
      }
      const clear = yield* destination()
      const ownCa = yield* tlsDestination(pki.server)
      const otherName = yield* tlsDestination(pki.wrongName)
      const unverified = yield* tlsDestination(pki.otherServer)
      const file = path.join(folder, "proxy.yaml")
      fs.writeFileSync(
        file,
        `
routes:
  - name: secure
    listen: 127.0.0.1:0
    tls: { cert: server.pem, key: server.key }
    destinations:
      - 127.0.0.1:${clear.port}
      - { address: "localhost:${ownCa.port}", tls: { ca: ca.pem } }
      - { address: "localhost:${otherName.port}", tls: { ca: ca.pem, servername: wrong.example } }
      - { address: "localhost:${unverified.port}", tls: { insecure-skip-verify: true } }
`
      )
      const proxy = yield* spawnCli(["proxy", "--config", file])
      const port = yield* listeningPort(proxy, startup)
      yield* proxy.waitForLine(/insecure-skip-verify is on/)
      const s = yield* tlsSource(port, pki.ca.cert)
      yield* s.write("everywhere")
      yield* clear.until(() => clear.connections[0]?.data().toString() === "everywhere")
      yield* ownCa.until(() => ownCa.connections[0] === "everywhere")
      yield* otherName.until(() => otherName.connections[0] === "everywhere")
      yield* unverified.until(() => unverified.connections[0] === "everywhere")
      // Said again on the connection's first attempt.
      expect(proxy.stdout().match(/insecure-skip-verify is on/g)?.length).toBeGreaterThanOrEqual(2)
    }))

  it.scopedLive("a bad certificate file: --check exits 2 with the key, the file and the problem", () =>
    Effect.gen(function*() {
      const pki = yield* makePki
      const file = path.join(pki.dir, "bad.yaml")
      fs.writeFileSync(
        file,
        `routes: [{ name: a, listen: 1, tls: { cert: ${pki.server.cert}, key: ${pki.client.key} }, destinations: ["x:1"] }]`
      )
      const exit = yield* runCli(["proxy", "--check", "--config", file], {}, startup)
      expect(exit.code, transcript(exit)).toBe(2)
      const lines = nonEmptyLines(exit.stderr)
      expect(lines, transcript(exit)).toHaveLength(1)
      expect(lines[0]).toMatch(/bad\.yaml: routes\[0\]\.tls\.key: .*: does not match the certificate in /)
    }))
})

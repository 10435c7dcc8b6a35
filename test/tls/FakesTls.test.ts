/**
 * The fakes over TLS (issue 12), as real processes: `fake-source --tls-ca` through
 * the proxy's TLS listener to `fake-destination --tls-cert/--tls-key`, reached as
 * `tls://localhost:PORT` verified against `--dest-ca`. Certificates come from
 * openssl for every run. Every wait is for a log line.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { vi } from "vitest"
import type { CliExit } from "../support/Cli.js"
import { listeningPort, nonEmptyLines, runCli, spawnCli } from "../support/Cli.js"
import { makePki, openssl } from "../support/Certs.js"
import { loopback } from "../support/Peers.js"

// Starting tsx takes seconds on a loaded machine; the processes start concurrently where they can.
vi.setConfig({ testTimeout: 60_000 })

if (openssl === undefined)
  console.warn("skipped: the fakes over TLS: the test makes its certificates with openssl, which is not installed")

const startup = Duration.seconds(30)

const transcript = (exit: CliExit): string =>
  `exit ${exit.code}\n--- stdout\n${exit.stdout}\n--- stderr\n${exit.stderr}`

/** Escapes `text` for a RegExp. */
const literal = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

describe.skipIf(openssl === undefined)("the fakes over TLS", () => {
  it.scopedLive("fake-source --tls-ca -> TLS proxy -> tls:// fake-destination: the destination logs its lines", () =>
    Effect.gen(function*() {
      const pki = yield* makePki
      const destination = yield* spawnCli([
        "fake-destination",
        "--port",
        "0",
        "--host",
        loopback,
        "--tls-cert",
        pki.server.cert,
        "--tls-key",
        pki.server.key
      ])
      // Meanwhile: a certificate file that is not PEM is refused at start, naming the flag and the file.
      const [destinationPort, badFile] = yield* Effect.all([
        listeningPort(destination, startup),
        runCli(["fake-destination", "--port", "0", "--tls-cert", pki.notPem, "--tls-key", pki.server.key], {}, startup)
      ], { concurrency: "unbounded" })
      expect(badFile.code, transcript(badFile)).toBe(2)
      expect(nonEmptyLines(badFile.stderr), transcript(badFile)).toEqual([
        expect.stringMatching(/^socket-proxy: invalid --tls-cert ".*not-pem\.txt": not a PEM file/)
      ])
      yield* destination.waitForLine(/listening on .* \(TLS\)/)

      const proxy = yield* spawnCli([
        "proxy",
        "--listen",
        `${loopback}:0`,
        "--tls-cert",
        pki.serverChain,
        "--tls-key",
        pki.server.key,
        "--dest",
        `tls://localhost:${destinationPort}`,
        "--dest-ca",
        pki.ca.cert
      ])
      const proxyPort = String(yield* listeningPort(proxy, startup))

      const [source, untrusting] = yield* Effect.all([
        spawnCli(["fake-source", "--port", proxyPort, "--interval", "200ms", "--tls-ca", pki.ca.cert]),
        // --tls alone verifies against the system's CAs, which do not know the test CA.
        spawnCli(["fake-source", "--port", proxyPort, "--tls"])
      ])
      yield* source.waitForLine(
        /connected to 127\.0\.0\.1:\d+ over TLS \(TLSv1\.[23], certificate of CN=localhost/,
        startup
      )
      // The 16 random characters of the first line, as the source's preview shows them (quoted: \"...\n\").
      const sent = yield* source.waitForLine(/sent 17 B \\"([A-Za-z0-9]{16})\\\\n/)
      const first = sent[1]!
      yield* destination.waitForLine(/connection #1 from 127\.0\.0\.1:\d+ over TLS/)
      // The first chunk the destination receives begins with the first line (later ones may join it).
      yield* destination.waitForLine(new RegExp(`#1 \\+\\d+ B \\(total \\d+ B\\) \\\\"${literal(first)}`))

      // A handshake failure: one line with the reason, then a retry, as for a refused connection.
      const failure = yield* untrusting.waitForLine(
        /cannot connect to .*: TLS handshake failed: (.*); retrying in 2s/,
        startup
      )
      expect(failure[1]).toMatch(/certificate not signed by a trusted CA/)
      expect(destination.stdout()).not.toMatch(/refused/)
    }))
})

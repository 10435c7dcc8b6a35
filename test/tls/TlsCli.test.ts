/**
 * Certificate files are read at start (issue 12): the CLI as a real process
 * exits 2 with one line naming the setting, the file and the problem.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import type { CliExit } from "../support/Cli.js"
import { nonEmptyLines, runCli } from "../support/Cli.js"
import { makePki, openssl } from "../support/Certs.js"

const startup = Duration.seconds(30)
const listen = ["proxy", "--listen", "127.0.0.1:0"]

const transcript = (exit: CliExit): string =>
  `exit ${exit.code}\n--- stdout\n${exit.stdout}\n--- stderr\n${exit.stderr}`

describe.skipIf(openssl === undefined)("TLS settings at start", () => {
  it.scopedLive("a missing, non-PEM or mismatched file: exit 2, one line naming it", () =>
    Effect.gen(function*() {
      const pki = yield* makePki
      const cases: ReadonlyArray<{ readonly args: ReadonlyArray<string>; readonly says: RegExp }> = [
        {
          args: ["--dest", "127.0.0.1:9", "--tls-cert", `${pki.dir}/missing.pem`, "--tls-key", pki.server.key],
          says: /^socket-proxy: invalid --tls-cert ".*missing\.pem": no such file$/
        },
        {
          args: ["--dest", "127.0.0.1:9", "--tls-cert", pki.notPem, "--tls-key", pki.server.key],
          says: /^socket-proxy: invalid --tls-cert ".*": not a PEM file/
        },
        {
          args: ["--dest", "127.0.0.1:9", "--tls-cert", pki.server.cert, "--tls-key", pki.client.key],
          says: /^socket-proxy: invalid --tls-key ".*": does not match the certificate in /
        },
        {
          args: ["--dest", "tls://localhost:9", "--dest-cert", pki.client.cert],
          says: /^socket-proxy: invalid --dest-cert ".*": needs --dest-key \(or SOCKET_PROXY_DEST_KEY\) as well$/
        }
      ]
      for (const { args, says } of cases) {
        const exit = yield* runCli([...listen, ...args], {}, startup)
        expect(exit.code, transcript(exit)).toBe(2)
        const lines = nonEmptyLines(exit.stderr)
        expect(lines, transcript(exit)).toHaveLength(1)
        expect(lines[0], transcript(exit)).toMatch(says)
      }
      // The same from the environment names the variable.
      const fromEnv = yield* runCli([...listen, "--dest", "127.0.0.1:9"], {
        env: { SOCKET_PROXY_TLS_CERT: pki.notPem, SOCKET_PROXY_TLS_KEY: pki.server.key }
      }, startup)
      expect(fromEnv.code, transcript(fromEnv)).toBe(2)
      expect(nonEmptyLines(fromEnv.stderr)[0]).toMatch(/^socket-proxy: invalid SOCKET_PROXY_TLS_CERT /)
    }))
})

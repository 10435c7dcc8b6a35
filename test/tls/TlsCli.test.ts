/**
 * Certificate files are read at start (issue 12): the CLI as a real process
 * exits 2 with one line naming the setting, the file and the problem.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import type { CliExit } from "../support/Cli.js"
import * as fs from "node:fs"
import * as path from "node:path"
import { listeningPort, nonEmptyLines, runCli, spawnCli } from "../support/Cli.js"
import { makePki, openssl } from "../support/Certs.js"
import { destination } from "../support/Peers.js"
import { tlsSource } from "../support/TlsPeers.js"

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

describe.skipIf(openssl === undefined)("TLS certificates reloaded on SIGHUP", () => {
  it.scopedLive("new connections get the new certificate, an open one keeps flowing; a bad file changes nothing", () =>
    Effect.gen(function*() {
      const pki = yield* makePki
      // The files the proxy is started with, replaced in place as an operator would.
      const cert = path.join(pki.dir, "live.pem")
      const key = path.join(pki.dir, "live.key")
      const install = (from: { readonly cert: string; readonly key: string }) => {
        fs.copyFileSync(from.cert, cert)
        fs.copyFileSync(from.key, key)
      }
      install(pki.server)
      const d = yield* destination()
      const proxy = yield* spawnCli([
        "proxy",
        ...listen.slice(1),
        "--dest",
        `127.0.0.1:${d.port}`,
        "--tls-cert",
        cert,
        "--tls-key",
        key
      ])
      const port = yield* listeningPort(proxy, startup)

      const open = yield* tlsSource(port, pki.ca.cert)
      yield* open.write("before;")
      yield* d.until(() => d.connections[0]?.data().toString() === "before;")

      install(pki.otherServer)
      yield* proxy.kill("SIGHUP")
      yield* proxy.waitForLine(/certificates reloaded/)
      // A new source must now trust the other CA; one that trusts only the old one is refused by its own check.
      const renewed = yield* tlsSource(port, pki.otherCa.cert)
      yield* renewed.write("renewed;")
      yield* d.until(() => d.connections[1]?.data().toString() === "renewed;")
      const stale = yield* tlsSource(port, pki.ca.cert)
      yield* stale.until(() => stale.closed())
      // The open connection keeps its session and its certificate.
      yield* open.write("after;")
      yield* d.until(() => d.connections[0]?.data().toString() === "before;after;")

      fs.writeFileSync(key, "not a key")
      yield* proxy.kill("SIGHUP")
      yield* proxy.waitForLine(/certificate reload refused, nothing changed: --tls-key .*live\.key: /)
      const still = yield* tlsSource(port, pki.otherCa.cert)
      yield* still.write("still;")
      yield* d.until(() => d.connections[2]?.data().toString() === "still;")
      expect(proxy.exit()).toBeUndefined()
    }))
})

/**
 * TLS on both legs (issue 12), over real TLS on loopback with certificates made
 * by openssl for the test: sources through the TLS listener to clear and TLS
 * destinations, mutual TLS refusals, each kind of destination certificate
 * failure while another destination keeps receiving, the PROXY header before
 * the handshake.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Logger, TestClock } from "effect"
import * as net from "node:net"
import { Duplex } from "node:stream"
import * as tls from "node:tls"
import type { ProxyConfig } from "../../src/Proxy/Settings/Config.js"
import type { TestPki } from "../support/Certs.js"
import { makePki, openssl } from "../support/Certs.js"
import { destination, loopback, source } from "../support/Peers.js"
import { read, tlsDestination, tlsSource } from "../support/TlsPeers.js"
import { sample, scrape, scrapeUntil } from "../support/Scrape.js"
import { startProxy, statsUntil } from "../support/TestProxy.js"

if (openssl === undefined)
  console.warn("skipped: TLS tests: they make their certificates with openssl, which is not installed")

const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ message }) => {
    lines.push(String(Array.isArray(message) ? message.join(" ") : message))
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

const listenerTls = (pki: TestPki, clientCa?: string): Partial<ProxyConfig> => ({
  listenerTls: { cert: pki.serverChain, key: pki.server.key, clientCa }
})

describe.skipIf(openssl === undefined)("TLS", () => {
  it.scopedLive("the listener: a TLS source reaches a clear destination; a clear source is refused as tls", () =>
    Effect.gen(function*() {
      const pki = yield* makePki
      const d = yield* destination()
      const proxy = yield* startProxy([d.endpoint], { ...listenerTls(pki), metrics: { host: loopback, port: 0 } })
      const s = yield* tlsSource(proxy.address.port, pki.ca.cert)
      yield* s.write("secret")
      yield* d.until(() => d.connections[0]?.data().toString() === "secret")

      const clear = yield* source(proxy.address.port)
      yield* clear.write("GET / HTTP/1.0\r\n\r\n")
      yield* clear.until(() => clear.isClosed())
      const stats = yield* statsUntil(proxy, (stats) => stats.refusedConnections.tls === 1)
      expect(stats.acceptedConnections).toBe(1)
      expect(d.connections).toHaveLength(1)
      const metrics = yield* scrapeUntil(
        proxy.metricsAddress!.port,
        (m) => m.get(`socket_proxy_tls_handshake_failures_total{side="source"}`) !== undefined
      )
      expect(sample(metrics, `socket_proxy_connections_refused_total{reason="tls"}`)).toBeGreaterThanOrEqual(1)
      const expiry = sample(metrics, `socket_proxy_listener_certificate_expiry_seconds{route="default"}`)
      expect(Math.abs(expiry - (Date.now() / 1000 + 86400))).toBeLessThan(3600)
    }))

  it.scoped("a source that does not finish its handshake within 10 s is refused as tls (TestClock)", () =>
    Effect.gen(function*() {
      const pki = yield* makePki
      const d = yield* destination()
      const proxy = yield* startProxy([d.endpoint], listenerTls(pki))
      const silent = yield* source(proxy.address.port)
      // Accepted after it: once this one's bytes are through, the silent one's handshake is waiting.
      const later = yield* tlsSource(proxy.address.port, pki.ca.cert)
      yield* later.write("later")
      yield* d.until(() => d.connections[0]?.data().toString() === "later")
      yield* TestClock.adjust(Duration.millis(9_900))
      expect(silent.isClosed()).toBe(false)
      yield* TestClock.adjust(Duration.millis(200))
      yield* silent.until(() => silent.isClosed())
      yield* statsUntil(proxy, (stats) => stats.refusedConnections.tls === 1)
    }))

  it.scopedLive("mutual TLS: no client certificate, or one of another CA, is refused; one of the CA flows", () =>
    Effect.gen(function*() {
      const pki = yield* makePki
      const d = yield* destination()
      const logs = captureLogs()
      const proxy = yield* startProxy([d.endpoint], listenerTls(pki, pki.ca.cert)).pipe(Effect.provide(logs.layer))
      const none = yield* tlsSource(proxy.address.port, pki.ca.cert)
      yield* none.until(() => none.closed())
      yield* statsUntil(proxy, (stats) => stats.refusedConnections.tls === 1)
      const stranger = yield* tlsSource(proxy.address.port, pki.ca.cert, pki.otherClient)
      yield* stranger.until(() => stranger.closed())
      yield* statsUntil(proxy, (stats) => stats.refusedConnections.tls === 2)
      expect(d.connections).toHaveLength(0)
      const known = yield* tlsSource(proxy.address.port, pki.ca.cert, pki.client)
      yield* known.write("mutual")
      yield* d.until(() => d.connections[0]?.data().toString() === "mutual")
      expect(logs.lines.filter((line) => line.startsWith("refused"))[0]).toMatch(/TLS handshake failed.*: \S/)
    }))

  it.scopedLive("destinations: tls:// with its own CA gets the bytes encrypted, beside a clear one", () =>
    Effect.gen(function*() {
      const pki = yield* makePki
      const clear = yield* destination()
      const secure = yield* tlsDestination(pki.server)
      const proxy = yield* startProxy([clear.endpoint, { host: "localhost", port: secure.port, tls: true }], {
        destinationTls: { ca: pki.ca.cert, cert: undefined, key: undefined },
        metrics: { host: loopback, port: 0 }
      })
      const s = yield* source(proxy.address.port)
      yield* s.write("to both")
      yield* clear.until(() => clear.connections[0]?.data().toString() === "to both")
      yield* secure.until(() => secure.connections[0] === "to both")
      // The destination's certificate expires in a day: /metrics says when.
      const metrics = yield* scrape(proxy.metricsAddress!.port)
      const expiry = sample(
        metrics,
        `socket_proxy_destination_certificate_expiry_seconds{destination="tls://localhost:${secure.port}",route="default"}`
      )
      expect(Math.abs(expiry - (Date.now() / 1000 + 86400))).toBeLessThan(3600)
    }))

  it.scopedLive("--dest-cert/--dest-key: a destination that requires a client certificate gets one", () =>
    Effect.gen(function*() {
      const pki = yield* makePki
      const strict = yield* tlsDestination(pki.server, { clientCa: pki.ca.cert })
      const endpoint = { host: "localhost", port: strict.port, tls: true }
      const proxy = yield* startProxy([endpoint], {
        destinationTls: { ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key }
      })
      const s = yield* source(proxy.address.port)
      yield* s.write("with a certificate")
      yield* strict.until(() => strict.connections[0] === "with a certificate")
      // Without one, the same destination is down.
      const bare = yield* startProxy([endpoint], {
        destinationTls: { ca: pki.ca.cert, cert: undefined, key: undefined }
      })
      const t = yield* source(bare.address.port)
      yield* t.write("without")
      yield* statsUntil(bare, (stats) => stats.destinations[0]!.state === "down")
    }))

  for (
    const { kind, cert, says } of [
      { kind: "an expired certificate", cert: (pki: TestPki) => pki.expired, says: "certificate has expired" },
      {
        kind: "a certificate for another name",
        cert: (pki: TestPki) => pki.wrongName,
        says: "hostname does not match"
      },
      {
        kind: "a certificate of an unknown CA",
        cert: (pki: TestPki) => pki.otherServer,
        says: "certificate not signed by a trusted CA"
      }
    ]
  ) {
    it.scopedLive(`a destination with ${kind} is down with the reason; the other keeps receiving`, () =>
      Effect.gen(function*() {
        const pki = yield* makePki
        const clear = yield* destination()
        const bad = yield* tlsDestination(cert(pki))
        const logs = captureLogs()
        const proxy = yield* startProxy([{ host: "localhost", port: bad.port, tls: true }, clear.endpoint], {
          destinationTls: { ca: pki.ca.cert, cert: undefined, key: undefined },
          metrics: { host: loopback, port: 0 }
        }).pipe(Effect.provide(logs.layer))
        const s = yield* source(proxy.address.port)
        yield* s.write("one")
        yield* clear.until(() => clear.connections[0]?.data().toString() === "one")
        const stats = yield* statsUntil(proxy, (stats) => stats.destinations[0]!.state === "down")
        expect(stats.destinations[1]!.state).toBe("up")
        expect(logs.lines.find((line) => line.includes(says)), logs.lines.join("\n")).toBeDefined()
        yield* s.write(" two")
        yield* clear.until(() => clear.connections[0]?.data().toString() === "one two")
        expect(bad.connections.every((received) => received === "")).toBe(true)
        const metrics = yield* scrapeUntil(
          proxy.metricsAddress!.port,
          (m) => (m.get(`socket_proxy_tls_handshake_failures_total{side="destination"}`) ?? 0) >= 1
        )
        expect(
          sample(metrics, `socket_proxy_destination_up{destination="tls://localhost:${bad.port}",route="default"}`)
        )
          .toBe(0)
      }))
  }

  it.scopedLive("a tls:// destination that stops reading is cut after --write-timeout, as over clear TCP", () =>
    Effect.gen(function*() {
      const pki = yield* makePki
      const stalled = yield* tlsDestination(pki.server, { stalled: true })
      const logs = captureLogs()
      const proxy = yield* startProxy([{ host: "localhost", port: stalled.port, tls: true }], {
        destinationTls: { ca: pki.ca.cert, cert: undefined, key: undefined },
        writeTimeout: Duration.millis(300)
      }).pipe(Effect.provide(logs.layer))
      const s = yield* source(proxy.address.port)
      // More than the kernel's buffers and the proxy's --buffer hold: the source is held back, then the link cut.
      s.socket.write(Buffer.alloc(16 * 1024 * 1024, 0x61))
      yield* statsUntil(
        proxy,
        () => logs.lines.some((line) => /cannot keep up: a write did not complete within 300ms/.test(line))
      )
    }))

  it.scopedLive("with --accept-proxy-protocol: the PROXY header first, then the handshake, in one packet too", () =>
    Effect.gen(function*() {
      const pki = yield* makePki
      const d = yield* destination()
      const proxy = yield* startProxy([d.endpoint], { ...listenerTls(pki), acceptProxyProtocol: true })
      // A TLS client whose ClientHello goes out in the same write as the header.
      const raw = yield* Effect.async<net.Socket>((resume) => {
        const raw = net.connect({ host: loopback, port: proxy.address.port }, () => resume(Effect.succeed(raw)))
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => raw.destroy()))
      let header: Buffer | undefined = Buffer.from("PROXY TCP4 203.0.113.7 192.0.2.1 4711 8000\r\n")
      const carrier = new Duplex({
        write(chunk: Buffer, _encoding, callback) {
          raw.write(header === undefined ? chunk : Buffer.concat([header, chunk]), callback)
          header = undefined
        },
        read() {}
      })
      raw.on("data", (chunk: Buffer) => carrier.push(chunk))
      raw.on("end", () => carrier.push(null))
      const secure = tls.connect({ socket: carrier, ca: [read(pki.ca.cert)], servername: "localhost" })
      secure.on("error", () => {})
      secure.write("behind the balancer")
      yield* d.until(() => d.connections[0]?.data().toString() === "behind the balancer")
      expect((yield* proxy.stats).connections[0]!.peer).toBe("203.0.113.7:4711")
    }))
})

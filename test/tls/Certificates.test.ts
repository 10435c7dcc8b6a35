/**
 * Reading the certificate files of `--tls-*` and `--dest-*` (issue 12): what
 * loads, every way a file can be unusable (each a CertificateError naming the
 * setting, the file and the problem), and real handshakes on loopback with the
 * loaded material, to pin down what node reports for each kind of failure.
 *
 * One PKI (made by openssl, ~0.1 s) serves the whole file; the files a test
 * needs beyond it are written into its directory under names of their own.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Layer } from "effect"
import type { Scope } from "effect"
import { createPrivateKey, X509Certificate } from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import * as tls from "node:tls"
import type { ListenerTls } from "../../src/Proxy/Tls/Certificates.js"
import {
  CertificateError,
  certificateExpiry,
  isExpired,
  loadDestinationTls,
  loadListenerTls,
  readProblem
} from "../../src/Proxy/Tls/Certificates.js"
import type { CertAndKey, TestPki } from "../support/Certs.js"
import { makePki, openssl } from "../support/Certs.js"

if (openssl === undefined) {
  console.warn("skipped: certificate loading tests: they make their certificates with openssl, which is not installed")
}

class Pki extends Context.Tag("test/Pki")<Pki, TestPki>() {}

const read = (file: string): string => fs.readFileSync(file, "utf8")

/** Writes `content` to a new file in the PKI's directory. */
const write = (pki: TestPki, name: string, content: string | Buffer): string => {
  const file = path.join(pki.dir, name)
  fs.writeFileSync(file, content)
  return file
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000)
const day = 24 * 60 * 60

const listenerFiles = (pair: CertAndKey, clientCa?: string) => ({ cert: pair.cert, key: pair.key, clientCa })

/** The error a load fails with; fails the test if it succeeds. */
const errorOf = <A>(load: Effect.Effect<A, CertificateError>): Effect.Effect<CertificateError> =>
  Effect.flip(load).pipe(Effect.orDieWith(() => new Error("loaded, but should have failed")))

const expectError = (error: CertificateError, setting: string, file: string, problem: string): void => {
  expect(error).toBeInstanceOf(CertificateError)
  expect({ setting: error.setting, file: error.file, problem: error.problem }).toEqual({ setting, file, problem })
  expect(error.message).toBe(`${setting} ${file}: ${problem}`)
}

// ---------------------------------------------------------------------------
// Handshakes on loopback

/** What the client of a handshake ends with: the server's first bytes, an error, or a close without either. */
type ClientOutcome =
  | { readonly _tag: "Received"; readonly authorized: boolean }
  | { readonly _tag: "Failed"; readonly code: string | undefined }
  | { readonly _tag: "Closed" }

/** What the server side of a handshake sees. */
type ServerOutcome =
  | {
    readonly _tag: "Secure"
    readonly authorized: boolean
    readonly authorizationError: string | undefined
    readonly sawCertificate: boolean
  }
  | { readonly _tag: "Failed"; readonly code: string | undefined }

const codeOf = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
    ? error.code
    : undefined

const secureOutcome = (socket: tls.TLSSocket): ServerOutcome => {
  const certificate = socket.getPeerCertificate()
  const error: unknown = socket.authorizationError
  return {
    _tag: "Secure",
    authorized: socket.authorized,
    authorizationError: error === null || error === undefined ? undefined : String(error),
    sawCertificate: Object.keys(certificate).length > 0
  }
}

/**
 * A plain TCP listener on 127.0.0.1 that hands its one connection to `accept`
 * (so TLS starts on an accepted socket, as the proxy does after a PROXY header).
 * The scope destroys what was accepted and closes the listener.
 */
const listenOnce = (
  accept: (raw: net.Socket, settle: (outcome: ServerOutcome) => void) => void
): Effect.Effect<{ readonly port: number; readonly outcome: Effect.Effect<ServerOutcome> }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const outcome = yield* Deferred.make<ServerOutcome>()
    const settle = (value: ServerOutcome) => Deferred.unsafeDone(outcome, Exit.succeed(value))
    const accepted: Array<net.Socket> = []
    const server = yield* Effect.acquireRelease(
      Effect.async<net.Server>((resume) => {
        const server = net.createServer((raw) => {
          accepted.push(raw)
          accept(raw, settle)
        })
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          for (const socket of accepted) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )
    return { port: (server.address() as net.AddressInfo).port, outcome: Deferred.await(outcome) }
  })

/**
 * Serves TLS the way the proxy's listener does (src/Proxy/Tls/Handshake.ts): a
 * server `TLSSocket` over the accepted socket with the loaded secureContext.
 */
const bareTlsServer = (material: ListenerTls, rejectUnauthorized = false) =>
  listenOnce((raw, settle) => {
    const secure = new tls.TLSSocket(raw, {
      isServer: true,
      secureContext: material.secureContext,
      requestCert: material.requestClientCertificate,
      rejectUnauthorized
    })
    secure.on("secure", () => {
      settle(secureOutcome(secure))
      secure.end("hello")
    })
    secure.on("error", (error) => settle({ _tag: "Failed", code: codeOf(error) }))
    secure.on("close", () => settle({ _tag: "Failed", code: "closed" }))
  })

/**
 * Serves TLS through a `tls.Server` (never listening itself) fed the accepted
 * socket: the one way node checks a client certificate and sets `authorized`.
 */
const tlsServer = (material: ListenerTls, rejectUnauthorized: boolean) =>
  Effect.gen(function*() {
    const server = tls.createServer({
      cert: material.cert,
      key: material.key,
      ...(material.clientCa === undefined ? {} : { ca: [...material.clientCa] }),
      requestCert: material.requestClientCertificate,
      rejectUnauthorized
    })
    const listener = yield* listenOnce((raw, settle) => {
      server.on("secureConnection", (secure: tls.TLSSocket) => {
        settle(secureOutcome(secure))
        secure.end("hello")
      })
      server.on("tlsClientError", (error) => settle({ _tag: "Failed", code: codeOf(error) }))
      server.emit("connection", raw)
    })
    return listener
  })

/**
 * Connects with `options` and waits for the server's first bytes, an error or
 * the close; the socket is destroyed once one of them is seen.
 */
const handshake = (port: number, options: tls.ConnectionOptions): Effect.Effect<ClientOutcome> =>
  Effect.async<ClientOutcome>((resume) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ...options })
    const finish = (outcome: ClientOutcome) => {
      socket.removeAllListeners()
      socket.on("error", () => {})
      socket.destroy()
      resume(Effect.succeed(outcome))
    }
    socket.once("data", () => finish({ _tag: "Received", authorized: socket.authorized }))
    socket.once("error", (error) => finish({ _tag: "Failed", code: codeOf(error) }))
    socket.once("close", () => finish({ _tag: "Closed" }))
    return Effect.sync(() => socket.destroy())
  })

/** Client options the way a `tls://localhost` destination is dialled: trusting `--dest-ca`. */
const trusting = (caFile: string, client?: CertAndKey) =>
  Effect.gen(function*() {
    const material = yield* loadDestinationTls({ ca: caFile, cert: client?.cert, key: client?.key })
    return {
      servername: "localhost",
      ca: material.ca === undefined ? undefined : [...material.ca],
      ...(material.cert === undefined ? {} : { cert: material.cert }),
      ...(material.key === undefined ? {} : { key: material.key })
    } satisfies tls.ConnectionOptions
  })

// ---------------------------------------------------------------------------

describe.skipIf(openssl === undefined)("certificate files", () => {
  layer(Layer.scoped(Pki, makePki), { excludeTestServices: true })((it) => {
    describe("loadListenerTls", () => {
      it.effect("loads a certificate and its key: no client certificates asked, expiry in a day", () =>
        Effect.gen(function*() {
          const pki = yield* Pki
          const loaded = yield* loadListenerTls(listenerFiles(pki.server))
          expect(loaded.files).toEqual(listenerFiles(pki.server))
          expect(loaded.requestClientCertificate).toBe(false)
          expect(loaded.clientCa).toBeUndefined()
          expect(Math.abs(loaded.expiresAt - (nowSeconds() + day))).toBeLessThan(120)
          expect(loaded.expiresAt).toBe(certificateExpiry(read(pki.server.cert)))
          expect(loaded.key).toBe(read(pki.server.key))
        }))

      it.effect("loads a chain file: the first certificate is the leaf, whose key and expiry count", () =>
        Effect.gen(function*() {
          const pki = yield* Pki
          const loaded = yield* loadListenerTls({ cert: pki.serverChain, key: pki.server.key, clientCa: undefined })
          expect(loaded.expiresAt).toBe(certificateExpiry(read(pki.server.cert)))
          expect(loaded.cert).toBe(read(pki.serverChain))
        }))

      it.effect("with a client CA file (several CAs in it too), asks sources for a certificate", () =>
        Effect.gen(function*() {
          const pki = yield* Pki
          const bundle = write(pki, "client-cas.pem", read(pki.ca.cert) + read(pki.otherCa.cert))
          const loaded = yield* loadListenerTls(listenerFiles(pki.server, bundle))
          expect(loaded.requestClientCertificate).toBe(true)
          expect(loaded.clientCa).toEqual([read(pki.ca.cert), read(pki.otherCa.cert)])
        }))

      it.effect("one file with the certificate and the key serves as both", () =>
        Effect.gen(function*() {
          const pki = yield* Pki
          const both = write(pki, "server-with-key.pem", read(pki.server.key) + read(pki.server.cert))
          const loaded = yield* loadListenerTls({ cert: both, key: both, clientCa: undefined })
          expect(loaded.cert).toBe(read(pki.server.cert))
          expect(loaded.key).toBe(read(pki.server.key))
        }))

      it.effect("an expired certificate loads; its expiresAt is in the past", () =>
        Effect.gen(function*() {
          const pki = yield* Pki
          const loaded = yield* loadListenerTls(listenerFiles(pki.expired))
          expect(loaded.expiresAt).toBe(Date.UTC(2020, 0, 2) / 1000)
          expect(isExpired(loaded.expiresAt, nowSeconds())).toBe(true)
        }))

      it.effect("the error names the setting as given", () =>
        Effect.gen(function*() {
          const pki = yield* Pki
          const names = {
            cert: "SOCKET_PROXY_TLS_CERT",
            key: "SOCKET_PROXY_TLS_KEY",
            clientCa: "SOCKET_PROXY_TLS_CLIENT_CA"
          }
          const error = yield* errorOf(loadListenerTls({ ...listenerFiles(pki.server), key: pki.notPem }, names))
          expectError(error, "SOCKET_PROXY_TLS_KEY", pki.notPem, "not a PEM file: no PEM private key")
        }))

      describe("refuses, naming the setting, the file and the problem", () => {
        const cases: ReadonlyArray<{
          readonly name: string
          readonly files: (pki: TestPki) => { cert: string; key: string; clientCa?: string | undefined }
          readonly setting: string
          readonly file: (files: { cert: string; key: string; clientCa?: string | undefined }) => string
          readonly problem: (pki: TestPki) => string
        }> = [
          {
            name: "a certificate file that does not exist",
            files: (pki) => ({ cert: path.join(pki.dir, "missing.pem"), key: pki.server.key }),
            setting: "--tls-cert",
            file: (files) => files.cert,
            problem: () => "no such file"
          },
          {
            name: "a key file that does not exist",
            files: (pki) => ({ cert: pki.server.cert, key: path.join(pki.dir, "missing.key") }),
            setting: "--tls-key",
            file: (files) => files.key,
            problem: () => "no such file"
          },
          {
            name: "a client CA file that does not exist",
            files: (pki) => ({ ...listenerFiles(pki.server), clientCa: path.join(pki.dir, "missing-ca.pem") }),
            setting: "--tls-client-ca",
            file: (files) => files.clientCa!,
            problem: () => "no such file"
          },
          {
            name: "a directory",
            files: (pki) => ({ cert: pki.dir, key: pki.server.key }),
            setting: "--tls-cert",
            file: (files) => files.cert,
            problem: () => "is a directory, not a file"
          },
          {
            name: "an empty certificate file",
            files: (pki) => ({ cert: write(pki, "empty.pem", ""), key: pki.server.key }),
            setting: "--tls-cert",
            file: (files) => files.cert,
            problem: () => "is empty"
          },
          {
            name: "a blank key file",
            files: (pki) => ({ cert: pki.server.cert, key: write(pki, "blank.key", "\n  \n") }),
            setting: "--tls-key",
            file: (files) => files.key,
            problem: () => "is empty"
          },
          {
            name: "a certificate file that is not PEM",
            files: (pki) => ({ cert: pki.notPem, key: pki.server.key }),
            setting: "--tls-cert",
            file: (files) => files.cert,
            problem: () => "not a PEM file: no -----BEGIN CERTIFICATE----- block"
          },
          {
            name: "a certificate file in DER",
            files: (pki) => ({
              cert: write(pki, "server.der", new X509Certificate(read(pki.server.cert)).raw),
              key: pki.server.key
            }),
            setting: "--tls-cert",
            file: (files) => files.cert,
            problem: () =>
              "not a PEM file: no -----BEGIN CERTIFICATE----- block (it looks like binary DER; `openssl x509 -inform DER` converts it)"
          },
          {
            name: "a key given as the certificate",
            files: (pki) => ({ cert: pki.server.key, key: pki.server.key }),
            setting: "--tls-cert",
            file: (files) => files.cert,
            problem: () => "no -----BEGIN CERTIFICATE----- block (it holds PRIVATE KEY)"
          },
          {
            name: "a certificate block that does not parse",
            files: (pki) => ({
              cert: write(pki, "bad-block.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
              key: pki.server.key
            }),
            setting: "--tls-cert",
            file: (files) => files.cert,
            problem: () => "not a valid certificate: wrong tag"
          },
          {
            name: "a certificate block cut short",
            files: (pki) => ({ cert: write(pki, "cut.pem", read(pki.server.cert).slice(0, 200)), key: pki.server.key }),
            setting: "--tls-cert",
            file: (files) => files.cert,
            problem: () => "not a valid certificate: no -----END CERTIFICATE----- line"
          },
          {
            name: "a chain whose second certificate is corrupt",
            files: (pki) => ({
              cert: write(
                pki,
                "bad-chain.pem",
                read(pki.server.cert) + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
              ),
              key: pki.server.key
            }),
            setting: "--tls-cert",
            file: (files) => files.cert,
            problem: () => "not a valid certificate (certificate 2 of 2): wrong tag"
          },
          {
            name: "a key file that is not PEM",
            files: (pki) => ({ cert: pki.server.cert, key: pki.notPem }),
            setting: "--tls-key",
            file: (files) => files.key,
            problem: () => "not a PEM file: no PEM private key"
          },
          {
            name: "a certificate given as the key",
            files: (pki) => ({ cert: pki.server.cert, key: pki.server.cert }),
            setting: "--tls-key",
            file: (files) => files.key,
            problem: () => "no PEM private key (it holds CERTIFICATE)"
          },
          {
            name: "a key block that does not parse",
            files: (pki) => ({
              cert: pki.server.cert,
              key: write(pki, "bad.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            }),
            setting: "--tls-key",
            file: (files) => files.key,
            problem: () => "not a valid private key: unsupported"
          },
          {
            name: "two keys in the key file",
            files: (pki) => ({
              cert: pki.server.cert,
              key: write(pki, "two.key", read(pki.server.key) + read(pki.client.key))
            }),
            setting: "--tls-key",
            file: (files) => files.key,
            problem: () => "holds 2 private keys; give one"
          },
          {
            name: "another certificate's key",
            files: (pki) => ({ cert: pki.server.cert, key: pki.client.key }),
            setting: "--tls-key",
            file: (files) => files.key,
            problem: (pki) => `does not match the certificate in ${pki.server.cert}`
          },
          {
            name: "a key of another type (RSA for an EC certificate)",
            files: (pki) => ({ cert: pki.server.cert, key: pki.weak.key }),
            setting: "--tls-key",
            file: (files) => files.key,
            problem: (pki) => `does not match the certificate in ${pki.server.cert}`
          },
          {
            name: "the key of the chain's second certificate",
            files: (pki) => ({ cert: pki.serverChain, key: pki.ca.key }),
            setting: "--tls-key",
            file: (files) => files.key,
            problem: (pki) => `does not match the certificate in ${pki.serverChain}`
          },
          {
            name: "an encrypted PKCS#8 key",
            files: (pki) => ({
              cert: pki.server.cert,
              key: write(
                pki,
                "encrypted.key",
                createPrivateKey(read(pki.server.key)).export({
                  type: "pkcs8",
                  format: "pem",
                  cipher: "aes-256-cbc",
                  passphrase: "secret"
                })
              )
            }),
            setting: "--tls-key",
            file: (files) => files.key,
            problem: () => "is encrypted; give an unencrypted key"
          },
          {
            name: "an encrypted traditional (Proc-Type) key",
            files: (pki) => ({
              cert: pki.server.cert,
              key: write(
                pki,
                "encrypted-sec1.key",
                createPrivateKey(read(pki.server.key)).export({
                  type: "sec1",
                  format: "pem",
                  cipher: "aes-256-cbc",
                  passphrase: "secret"
                })
              )
            }),
            setting: "--tls-key",
            file: (files) => files.key,
            problem: () => "is encrypted; give an unencrypted key"
          },
          {
            name: "a client CA file that is not PEM",
            files: (pki) => ({ ...listenerFiles(pki.server), clientCa: pki.notPem }),
            setting: "--tls-client-ca",
            file: (files) => files.clientCa!,
            problem: () => "not a PEM file: no -----BEGIN CERTIFICATE----- block"
          },
          {
            name: "a certificate TLS refuses (a 512-bit RSA key)",
            files: (pki) => listenerFiles(pki.weak),
            setting: "--tls-cert",
            file: (files) => files.cert,
            problem: () => "cannot be used for TLS: ee key too small"
          }
        ]
        for (const { file, files, name, problem, setting } of cases) {
          it.effect(name, () =>
            Effect.gen(function*() {
              const pki = yield* Pki
              const given = files(pki)
              const error = yield* errorOf(loadListenerTls({ clientCa: undefined, ...given }))
              expectError(error, setting, file(given), problem(pki))
            }))
        }

        it.effect.skipIf(process.getuid?.() === 0)(
          "a file that cannot be read (not as root)",
          () =>
            Effect.gen(function*() {
              const pki = yield* Pki
              const locked = write(pki, "locked.key", read(pki.server.key))
              fs.chmodSync(locked, 0o000)
              const error = yield* errorOf(loadListenerTls({ cert: pki.server.cert, key: locked, clientCa: undefined }))
              expectError(error, "--tls-key", locked, "cannot be read: permission denied")
            })
        )
      })
    })

    it.effect("readProblem: what each failed read is called", () =>
      Effect.sync(() => {
        const failure = (code: string) => Object.assign(new Error(`${code}: failed`), { code })
        expect(readProblem(failure("ENOENT"))).toBe("no such file")
        expect(readProblem(failure("EACCES"))).toBe("cannot be read: permission denied")
        expect(readProblem(failure("EISDIR"))).toBe("is a directory, not a file")
        expect(readProblem(failure("EIO"))).toBe("cannot be read: EIO: failed")
      }))

    describe("loadDestinationTls", () => {
      it.effect("nothing given: the system's CAs, no client certificate", () =>
        Effect.gen(function*() {
          const loaded = yield* loadDestinationTls({ ca: undefined, cert: undefined, key: undefined })
          expect(loaded).toEqual({ ca: undefined, cert: undefined, key: undefined, clientExpiresAt: undefined })
        }))

      it.effect("a CA file alone: each CA's PEM, no client certificate", () =>
        Effect.gen(function*() {
          const pki = yield* Pki
          const loaded = yield* loadDestinationTls({ ca: pki.ca.cert, cert: undefined, key: undefined })
          expect(loaded).toEqual({
            ca: [read(pki.ca.cert)],
            cert: undefined,
            key: undefined,
            clientExpiresAt: undefined
          })
          const bundle = write(pki, "dest-cas.pem", read(pki.ca.cert) + "\n" + read(pki.otherCa.cert))
          const both = yield* loadDestinationTls({ ca: bundle, cert: undefined, key: undefined })
          expect(both.ca).toEqual([read(pki.ca.cert), read(pki.otherCa.cert)])
        }))

      it.effect("a CA file and a client certificate with its key", () =>
        Effect.gen(function*() {
          const pki = yield* Pki
          const loaded = yield* loadDestinationTls({ ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key })
          expect(loaded.ca).toEqual([read(pki.ca.cert)])
          expect(loaded.cert).toBe(read(pki.client.cert))
          expect(loaded.key).toBe(read(pki.client.key))
          expect(Math.abs(loaded.clientExpiresAt! - (nowSeconds() + day))).toBeLessThan(120)
        }))

      it.effect("a client certificate without a CA file (the system's CAs)", () =>
        Effect.gen(function*() {
          const pki = yield* Pki
          const loaded = yield* loadDestinationTls({ ca: undefined, cert: pki.client.cert, key: pki.client.key })
          expect(loaded.ca).toBeUndefined()
          expect(loaded.cert).toBe(read(pki.client.cert))
        }))

      it.effect("refuses a key that is not the client certificate's", () =>
        Effect.gen(function*() {
          const pki = yield* Pki
          const error = yield* errorOf(
            loadDestinationTls({ ca: pki.ca.cert, cert: pki.client.cert, key: pki.server.key })
          )
          expectError(error, "--dest-key", pki.server.key, `does not match the certificate in ${pki.client.cert}`)
        }))

      it.effect("refuses a client certificate without a key, and a key without a certificate", () =>
        Effect.gen(function*() {
          const pki = yield* Pki
          const noKey = yield* errorOf(loadDestinationTls({ ca: undefined, cert: pki.client.cert, key: undefined }))
          expectError(noKey, "--dest-cert", pki.client.cert, "needs --dest-key as well")
          const noCert = yield* errorOf(
            loadDestinationTls({ ca: undefined, cert: undefined, key: pki.client.key }, {
              ca: "SOCKET_PROXY_DEST_CA",
              cert: "SOCKET_PROXY_DEST_CERT",
              key: "SOCKET_PROXY_DEST_KEY"
            })
          )
          expectError(noCert, "SOCKET_PROXY_DEST_KEY", pki.client.key, "needs SOCKET_PROXY_DEST_CERT as well")
        }))

      it.effect("refuses a CA file that is not PEM, a missing one, and a client certificate TLS refuses", () =>
        Effect.gen(function*() {
          const pki = yield* Pki
          const notPem = yield* errorOf(loadDestinationTls({ ca: pki.notPem, cert: undefined, key: undefined }))
          expectError(notPem, "--dest-ca", pki.notPem, "not a PEM file: no -----BEGIN CERTIFICATE----- block")
          const missing = path.join(pki.dir, "no-ca.pem")
          const absent = yield* errorOf(loadDestinationTls({ ca: missing, cert: undefined, key: undefined }))
          expectError(absent, "--dest-ca", missing, "no such file")
          const weak = yield* errorOf(loadDestinationTls({ ca: pki.ca.cert, cert: pki.weak.cert, key: pki.weak.key }))
          expectError(weak, "--dest-cert", pki.weak.cert, "cannot be used for TLS: ee key too small")
        }))
    })

    it.effect("certificateExpiry: the expired certificate's notAfter is in the past", () =>
      Effect.gen(function*() {
        const pki = yield* Pki
        const expiry = certificateExpiry(read(pki.expired.cert))
        expect(expiry).toBe(Date.UTC(2020, 0, 2) / 1000)
        expect(isExpired(expiry, nowSeconds())).toBe(true)
        expect(isExpired(certificateExpiry(read(pki.server.cert)), nowSeconds())).toBe(false)
        // The first certificate of a chain is the one that counts.
        expect(certificateExpiry(read(pki.serverChain))).toBe(certificateExpiry(read(pki.server.cert)))
      }))

    describe("handshakes with the loaded material", () => {
      it.scoped("the server certificate verifies against --dest-ca for localhost, and so does its chain file", () =>
        Effect.gen(function*() {
          const pki = yield* Pki
          const client = yield* trusting(pki.ca.cert)
          for (const cert of [pki.server.cert, pki.serverChain]) {
            const server = yield* bareTlsServer(
              yield* loadListenerTls({ cert, key: pki.server.key, clientCa: undefined })
            )
            expect(yield* handshake(server.port, client)).toEqual({ _tag: "Received", authorized: true })
          }
        }))

      const refusals = [
        {
          kind: "a certificate for another name",
          pair: (pki: TestPki) => pki.wrongName,
          code: "ERR_TLS_CERT_ALTNAME_INVALID"
        },
        { kind: "an expired certificate", pair: (pki: TestPki) => pki.expired, code: "CERT_HAS_EXPIRED" },
        {
          kind: "a certificate of an unknown CA",
          pair: (pki: TestPki) => pki.otherServer,
          code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
        }
      ]
      for (const { code, kind, pair } of refusals) {
        it.scoped(`the client refuses ${kind}: ${code}`, () =>
          Effect.gen(function*() {
            const pki = yield* Pki
            const server = yield* bareTlsServer(yield* loadListenerTls(listenerFiles(pair(pki))))
            expect(yield* handshake(server.port, yield* trusting(pki.ca.cert))).toEqual({ _tag: "Failed", code })
          }))
      }

      describe("mutual TLS, checked by the application (rejectUnauthorized: false, as the proxy does)", () => {
        it.scoped("a client certificate of the CA is authorized", () =>
          Effect.gen(function*() {
            const pki = yield* Pki
            const server = yield* tlsServer(yield* loadListenerTls(listenerFiles(pki.server, pki.ca.cert)), false)
            expect(yield* handshake(server.port, yield* trusting(pki.ca.cert, pki.client))).toEqual({
              _tag: "Received",
              authorized: true
            })
            expect(yield* server.outcome).toEqual({
              _tag: "Secure",
              authorized: true,
              authorizationError: undefined,
              sawCertificate: true
            })
          }))

        it.scoped("no client certificate: the handshake completes, unauthorized, with no peer certificate", () =>
          Effect.gen(function*() {
            const pki = yield* Pki
            const server = yield* tlsServer(yield* loadListenerTls(listenerFiles(pki.server, pki.ca.cert)), false)
            expect(yield* handshake(server.port, yield* trusting(pki.ca.cert))).toEqual({
              _tag: "Received",
              authorized: true
            })
            expect(yield* server.outcome).toEqual({
              _tag: "Secure",
              authorized: false,
              authorizationError: "UNABLE_TO_GET_ISSUER_CERT",
              sawCertificate: false
            })
          }))

        it.scoped("a client certificate of another CA: unauthorized, UNABLE_TO_VERIFY_LEAF_SIGNATURE", () =>
          Effect.gen(function*() {
            const pki = yield* Pki
            const server = yield* tlsServer(yield* loadListenerTls(listenerFiles(pki.server, pki.ca.cert)), false)
            expect(yield* handshake(server.port, yield* trusting(pki.ca.cert, pki.otherClient))).toEqual({
              _tag: "Received",
              authorized: true
            })
            expect(yield* server.outcome).toEqual({
              _tag: "Secure",
              authorized: false,
              authorizationError: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
              sawCertificate: true
            })
          }))
      })

      describe("mutual TLS, refused by node (rejectUnauthorized: true)", () => {
        it.scoped("no client certificate: the server fails the handshake, the client gets the alert", () =>
          Effect.gen(function*() {
            const pki = yield* Pki
            const server = yield* tlsServer(yield* loadListenerTls(listenerFiles(pki.server, pki.ca.cert)), true)
            expect(yield* handshake(server.port, yield* trusting(pki.ca.cert))).toEqual({
              _tag: "Failed",
              code: "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"
            })
            expect(yield* server.outcome).toEqual({ _tag: "Failed", code: "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE" })
          }))

        it.scoped("a client certificate of another CA: the server hangs up, the client sees a close", () =>
          Effect.gen(function*() {
            const pki = yield* Pki
            const server = yield* tlsServer(yield* loadListenerTls(listenerFiles(pki.server, pki.ca.cert)), true)
            expect(yield* handshake(server.port, yield* trusting(pki.ca.cert, pki.otherClient))).toEqual({
              _tag: "Closed"
            })
            // In TLS 1.3 the client's certificate is checked after the client's handshake is done;
            // node destroys the socket without an alert, so its server only sees the close.
            expect(yield* server.outcome).toEqual({ _tag: "Failed", code: "ECONNRESET" })
          }))
      })

      it.scoped("a bare server TLSSocket never sets authorized, not even for a good client certificate", () =>
        Effect.gen(function*() {
          // Only tls.Server's own connection handler checks the verification result
          // (an internal verifyError()); a TLSSocket built with isServer leaves authorized false.
          const pki = yield* Pki
          const server = yield* bareTlsServer(yield* loadListenerTls(listenerFiles(pki.server, pki.ca.cert)))
          expect(yield* handshake(server.port, yield* trusting(pki.ca.cert, pki.client))).toEqual({
            _tag: "Received",
            authorized: true
          })
          expect(yield* server.outcome).toEqual({
            _tag: "Secure",
            authorized: false,
            authorizationError: undefined,
            sawCertificate: true
          })
        }))
    })
  })
})

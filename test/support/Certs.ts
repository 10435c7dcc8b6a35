/**
 * Test certificates, made fresh for each test by the `openssl` binary (OpenSSL
 * 3.0 or later) in a temporary directory the scope removes.
 *
 * Keys are EC P-256 (key generation takes microseconds, unlike RSA) and
 * unencrypted. Every certificate's extensions come from one config file written
 * next to them, so the machine's own openssl.cnf (whose `v3_ca` section would
 * otherwise mark leaves as CAs) changes nothing.
 *
 * The expired certificate needs a notAfter in the past. OpenSSL 3.0 has no
 * `-not_after` for `req`/`x509` (that came in 3.4) and `-days` must be positive,
 * but `openssl ca` takes explicit `-startdate`/`-enddate`; it needs a small CA
 * database, which lives in the same directory.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import { execFileSync } from "node:child_process"
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** A certificate file and its private key's file. */
export interface CertAndKey {
  readonly cert: string
  readonly key: string
}

/** Paths of the files `makePki` wrote, all inside `dir`. */
export interface TestPki {
  readonly dir: string
  readonly ca: CertAndKey
  /** A CA unrelated to `ca`: what it signed is from an unknown CA to anyone trusting `ca`. */
  readonly otherCa: CertAndKey
  /** Signed by `ca`; SAN DNS:localhost, IP:127.0.0.1, IP:::1; valid from now for one day. */
  readonly server: CertAndKey
  /** The server certificate followed by the CA certificate (a chain file). */
  readonly serverChain: string
  /** Signed by `otherCa`, SAN as `server`: a server of a CA that whoever trusts `ca` does not know. */
  readonly otherServer: CertAndKey
  /** Signed by `ca`, SAN as `server`, valid 2020-01-01 to 2020-01-02. */
  readonly expired: CertAndKey
  /** Signed by `ca`; SAN DNS:wrong.example only. */
  readonly wrongName: CertAndKey
  /** Signed by `ca`; extendedKeyUsage clientAuth. */
  readonly client: CertAndKey
  /** Signed by `otherCa`; extendedKeyUsage clientAuth. */
  readonly otherClient: CertAndKey
  /** Self-signed with a 512-bit RSA key: well-formed, but TLS refuses it ("ee key too small"). */
  readonly weak: CertAndKey
  /** A file that is not PEM at all. */
  readonly notPem: string
}

const isExecutableFile = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK)
    return statSync(file).isFile()
  } catch {
    return false
  }
}

/** The `openssl` binary: the first on PATH, else /usr/bin/openssl; undefined when there is none. */
export const openssl: string | undefined = [
  ...(process.env["PATH"] ?? "").split(path.delimiter).filter((dir) => dir !== "").map((dir) =>
    path.join(dir, "openssl")
  ),
  "/usr/bin/openssl"
].find(isExecutableFile)

/** Extension profiles (`-extensions NAME`) and the `openssl ca` database settings. */
const config = `
[req]
distinguished_name = dn
[dn]

[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[server_ext]
basicConstraints = CA:FALSE
keyUsage = digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[wrong_name_ext]
basicConstraints = CA:FALSE
keyUsage = digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[client_ext]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ca]
default_ca = test_ca
[test_ca]
database = ca-index.txt
new_certs_dir = ca-issued
rand_serial = yes
default_md = sha256
policy = any_name
unique_subject = no
[any_name]
commonName = supplied
`

const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc"]

/** Runs openssl in `dir`; throws with its stderr when it fails. */
const run = (bin: string, dir: string, args: ReadonlyArray<string>): void => {
  try {
    execFileSync(bin, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" })
  } catch (error) {
    const stderr = (error as { stderr?: unknown }).stderr
    throw new Error(
      `openssl ${args.join(" ")} failed: ${typeof stderr === "string" && stderr !== "" ? stderr.trim() : String(error)}`
    )
  }
}

/** Writes every file of the PKI into `dir` (which exists and is empty). */
const writePki = (bin: string, dir: string): TestPki => {
  const file = (name: string) => path.join(dir, name)
  const pair = (name: string): CertAndKey => ({ cert: file(`${name}.pem`), key: file(`${name}.key`) })
  writeFileSync(file("openssl.cnf"), config)
  const openssl = (...args: ReadonlyArray<string>) => run(bin, dir, args)
  const common = ["-config", file("openssl.cnf"), "-batch"]

  const selfSigned = (name: string, cn: string) => {
    const out = pair(name)
    openssl(
      "req",
      "-x509",
      ...common,
      ...ecKey,
      "-keyout",
      out.key,
      "-out",
      out.cert,
      "-days",
      "2",
      "-subj",
      `/CN=${cn}`,
      "-extensions",
      "ca_ext"
    )
    return out
  }
  // `req -x509 -CA` (OpenSSL 3.0) makes the key, the request and the signed certificate in one run.
  const signed = (name: string, cn: string, by: CertAndKey, extensions: string) => {
    const out = pair(name)
    openssl(
      "req",
      "-x509",
      ...common,
      ...ecKey,
      "-keyout",
      out.key,
      "-out",
      out.cert,
      "-days",
      "1",
      "-subj",
      `/CN=${cn}`,
      "-CA",
      by.cert,
      "-CAkey",
      by.key,
      "-extensions",
      extensions
    )
    return out
  }

  const ca = selfSigned("ca", "socket-proxy test CA")
  const otherCa = selfSigned("other-ca", "socket-proxy other test CA")
  const server = signed("server", "localhost", ca, "server_ext")
  const otherServer = signed("other-server", "localhost", otherCa, "server_ext")
  const wrongName = signed("wrong-name", "wrong.example", ca, "wrong_name_ext")
  const client = signed("client", "socket-proxy test client", ca, "client_ext")
  const otherClient = signed("other-client", "socket-proxy other test client", otherCa, "client_ext")

  const expired = pair("expired")
  writeFileSync(file("ca-index.txt"), "")
  mkdirSync(file("ca-issued"))
  openssl(
    "req",
    "-new",
    ...common,
    ...ecKey,
    "-keyout",
    expired.key,
    "-out",
    file("expired.csr"),
    "-subj",
    "/CN=localhost"
  )
  openssl(
    "ca",
    ...common,
    "-notext",
    "-cert",
    ca.cert,
    "-keyfile",
    ca.key,
    "-in",
    file("expired.csr"),
    "-out",
    expired.cert,
    "-startdate",
    "20200101000000Z",
    "-enddate",
    "20200102000000Z",
    "-extensions",
    "server_ext"
  )

  const weak = pair("weak")
  openssl(
    "req",
    "-x509",
    ...common,
    "-newkey",
    "rsa:512",
    "-noenc",
    "-keyout",
    weak.key,
    "-out",
    weak.cert,
    "-days",
    "1",
    "-subj",
    "/CN=weak",
    "-extensions",
    "server_ext"
  )

  const serverChain = file("server-chain.pem")
  writeFileSync(serverChain, readFileSync(server.cert, "utf8") + readFileSync(ca.cert, "utf8"))
  const notPem = file("not-pem.txt")
  writeFileSync(notPem, "this is not a certificate\n\u0000\u0001\u0002\n")

  return { dir, ca, otherCa, server, serverChain, otherServer, expired, wrongName, client, otherClient, weak, notPem }
}

/**
 * A fresh test PKI in a temporary directory that the scope removes. Dies with
 * openssl's stderr if a command fails, or when there is no openssl at all (check
 * `openssl` first to skip instead).
 */
export const makePki: Effect.Effect<TestPki, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(path.join(os.tmpdir(), "socket-proxy-pki-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
).pipe(
  Effect.flatMap((dir) => {
    const bin = openssl
    return bin === undefined
      ? Effect.dieMessage("no openssl binary (looked on PATH and at /usr/bin/openssl)")
      : Effect.sync(() => writePki(bin, dir))
  })
)

// Certificates for the bench's TLS line ("throughput 1→2 over TLS"), made fresh by the
// `openssl` binary (OpenSSL 3.0 or later) into a temporary directory for each run of
// the scenario, and removed afterwards: a CA and a server certificate it signed, for
// localhost and 127.0.0.1. Keys are EC P-256, unencrypted. The extension profiles are
// in an openssl.cnf of their own, so the machine's openssl.cnf changes nothing.
import { execFileSync } from "node:child_process"
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"

/** `openssl` on PATH, else /usr/bin/openssl; undefined when there is none. */
export const findOpenssl = () => {
  const candidates = [
    ...(process.env.PATH ?? "").split(path.delimiter).filter((d) => d !== "").map((d) => path.join(d, "openssl")),
    "/usr/bin/openssl"
  ]
  return candidates.find((candidate) => {
    try {
      accessSync(candidate, constants.X_OK)
      return statSync(candidate).isFile()
    } catch {
      return false
    }
  })
}

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
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`

/**
 * Makes the CA and the server certificate with `openssl` (the path of the binary);
 * returns the files' paths, their PEM text (for the sinks and the source, which take
 * it in memory) and `remove`, which deletes the directory. Throws with openssl's
 * stderr when a command fails (the directory is removed then too).
 */
export const makeCertificates = (openssl) => {
  const dir = mkdtempSync(path.join(tmpdir(), "socket-proxy-bench-tls-"))
  const file = (name) => path.join(dir, name)
  const run = (...args) => {
    try {
      execFileSync(openssl, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" })
    } catch (error) {
      const stderr = typeof error.stderr === "string" ? error.stderr.trim() : ""
      throw new Error(`openssl ${args.join(" ")} failed: ${stderr !== "" ? stderr : String(error)}`)
    }
  }
  try {
    writeFileSync(file("openssl.cnf"), config)
    const common = ["-config", file("openssl.cnf"), "-batch", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    // -nodes: the keys are written unencrypted (OpenSSL 3.0 takes it; -noenc is its newer name).
    run(
      "req",
      "-x509",
      ...common,
      "-nodes",
      "-keyout",
      file("ca.key"),
      "-out",
      file("ca.pem"),
      "-days",
      "2",
      "-subj",
      "/CN=socket-proxy bench CA",
      "-extensions",
      "ca_ext"
    )
    // `req -x509 -CA` (OpenSSL 3.0) makes the key, the request and the signed certificate in one run.
    run(
      "req",
      "-x509",
      ...common,
      "-nodes",
      "-keyout",
      file("server.key"),
      "-out",
      file("server.pem"),
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-CA",
      file("ca.pem"),
      "-CAkey",
      file("ca.key"),
      "-extensions",
      "server_ext"
    )
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
  return {
    dir,
    caFile: file("ca.pem"),
    certFile: file("server.pem"),
    keyFile: file("server.key"),
    ca: readFileSync(file("ca.pem"), "utf8"),
    cert: readFileSync(file("server.pem"), "utf8"),
    key: readFileSync(file("server.key"), "utf8"),
    remove: () => rmSync(dir, { recursive: true, force: true })
  }
}

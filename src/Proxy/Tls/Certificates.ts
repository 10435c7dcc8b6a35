/**
 * Reading and checking the certificate files of `--tls-*` (the listener) and
 * `--dest-*` (TLS to destinations). Every problem a file can have is found here,
 * at start (and on reload), and named with the setting and the file, so the proxy
 * exits 2 with one line instead of failing on the first handshake.
 *
 * Reading is synchronous on purpose: it happens once at start or reload, never
 * on the data path, and the files are small.
 */
import * as Arr from "effect/Array"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { createPrivateKey, X509Certificate } from "node:crypto"
import type { KeyObject } from "node:crypto"
import { readFileSync } from "node:fs"
import * as tls from "node:tls"

/** One certificate file that cannot be used, with what is wrong: for the exit-2 line. */
export class CertificateError extends Data.TaggedError("CertificateError")<{
  /** The setting that names the file, as the user gave it (`--tls-key`, or its environment variable). */
  readonly setting: string
  readonly file: string
  readonly problem: string
}> {
  override get message(): string {
    return `${this.setting} ${this.file}: ${this.problem}`
  }
}

// ---------------------------------------------------------------------------
// The listener's files

export interface ListenerTlsFiles {
  readonly cert: string
  readonly key: string
  readonly clientCa: string | undefined
}

export interface ListenerTls {
  readonly files: ListenerTlsFiles
  /** The certificate chain and key, and the client CAs if any. */
  readonly secureContext: tls.SecureContext
  /**
   * The same material as PEM text (chain leaf first, key, each client CA), for a
   * `tls.Server`: it ignores a `secureContext` option, and only a socket it
   * accepted itself (`server.emit("connection", socket)`) gets `authorized` and
   * `authorizationError` set; on a bare server `TLSSocket` they stay unset.
   */
  readonly cert: string
  readonly key: string
  readonly clientCa: ReadonlyArray<string> | undefined
  /** With `--tls-client-ca`: sources must show a certificate that verifies against it (mutual TLS). */
  readonly requestClientCertificate: boolean
  /** When the listener's own (leaf) certificate expires, in Unix seconds. */
  readonly expiresAt: number
}

const listenerNames = { cert: "--tls-cert", key: "--tls-key", clientCa: "--tls-client-ca" }

/**
 * Reads and checks the listener's certificate chain, its key (which must match
 * the chain's first certificate) and the client CAs. An expired certificate is
 * not refused here: `expiresAt` lets the caller warn about it.
 */
export const loadListenerTls = (
  files: ListenerTlsFiles,
  names: { readonly cert: string; readonly key: string; readonly clientCa: string } = listenerNames
): Effect.Effect<ListenerTls, CertificateError> =>
  Effect.gen(function*() {
    const certSource: Source = { setting: names.cert, file: files.cert }
    const chain = yield* readCertificates(certSource)
    const key = yield* readMatchingKey({ setting: names.key, file: files.key }, chain[0], files.cert)
    const clientCaSource: Source | undefined = files.clientCa === undefined
      ? undefined
      : { setting: names.clientCa, file: files.clientCa }
    const clientCas = clientCaSource === undefined ? undefined : yield* readCertificates(clientCaSource)
    const material = { cert: pemOf(chain), key: key.pem, ca: clientCas?.map((ca) => ca.pem) }
    const secureContext = yield* checkedSecureContext(material, certSource, clientCaSource)
    return {
      files,
      secureContext,
      cert: material.cert,
      key: material.key,
      clientCa: material.ca,
      requestClientCertificate: clientCas !== undefined,
      expiresAt: expiryOf(chain[0].x509)
    }
  })

// ---------------------------------------------------------------------------
// The files for TLS to destinations

export interface DestinationTlsFiles {
  readonly ca: string | undefined
  readonly cert: string | undefined
  readonly key: string | undefined
}

export interface DestinationTls {
  /** PEM text of each CA certificate, for `tls.connect({ ca })`; undefined: the system's CAs. */
  readonly ca: ReadonlyArray<string> | undefined
  /** PEM of the client certificate (and its chain), shown to destinations that ask. */
  readonly cert: string | undefined
  readonly key: string | undefined
  /** When the client certificate expires, in Unix seconds. */
  readonly clientExpiresAt: number | undefined
}

const destinationNames = { ca: "--dest-ca", cert: "--dest-cert", key: "--dest-key" }

/**
 * Reads and checks the CAs destinations are verified against and the client
 * certificate and key shown to them. The certificate and the key come together
 * or not at all.
 */
export const loadDestinationTls = (
  files: DestinationTlsFiles,
  names: { readonly ca: string; readonly cert: string; readonly key: string } = destinationNames
): Effect.Effect<DestinationTls, CertificateError> =>
  Effect.gen(function*() {
    const caSource: Source | undefined = files.ca === undefined ? undefined : { setting: names.ca, file: files.ca }
    const cas = caSource === undefined ? undefined : yield* readCertificates(caSource)
    const client = yield* readClientCertificate(files, names)
    const ca = cas?.map((certificate) => certificate.pem)
    if (client === undefined) {
      // Built only to have OpenSSL load the CAs now rather than at the first dial.
      if (caSource !== undefined) yield* checkedSecureContext({ ca }, caSource, undefined)
      return { ca, cert: undefined, key: undefined, clientExpiresAt: undefined }
    }
    yield* checkedSecureContext({ ca, cert: client.cert, key: client.key }, client.certSource, caSource)
    return { ca, cert: client.cert, key: client.key, clientExpiresAt: client.expiresAt }
  })

/** The `--dest-cert` chain and its `--dest-key`, checked to match; undefined when neither is given. */
const readClientCertificate = (
  files: DestinationTlsFiles,
  names: { readonly cert: string; readonly key: string }
): Effect.Effect<
  { readonly certSource: Source; readonly cert: string; readonly key: string; readonly expiresAt: number } | undefined,
  CertificateError
> =>
  Effect.gen(function*() {
    if (files.cert === undefined && files.key === undefined) return undefined
    if (files.key === undefined) {
      return yield* fail({ setting: names.cert, file: files.cert! }, `needs ${names.key} as well`)
    }
    if (files.cert === undefined)
      return yield* fail({ setting: names.key, file: files.key }, `needs ${names.cert} as well`)
    const certSource: Source = { setting: names.cert, file: files.cert }
    const chain = yield* readCertificates(certSource)
    const key = yield* readMatchingKey({ setting: names.key, file: files.key }, chain[0], files.cert)
    return { certSource, cert: pemOf(chain), key: key.pem, expiresAt: expiryOf(chain[0].x509) }
  })

// ---------------------------------------------------------------------------
// Expiry

/** Unix seconds of notAfter of a PEM certificate (the first in the text). Throws if there is none. */
export const certificateExpiry = (pem: string): number => expiryOf(new X509Certificate(pem))

/** Whether a certificate that expires at `expiresAt` has expired at `nowSeconds` (both Unix seconds). */
export const isExpired = (expiresAt: number, nowSeconds: number): boolean => expiresAt <= nowSeconds

const expiryOf = (certificate: X509Certificate): number => Math.floor(Date.parse(certificate.validTo) / 1000)

// ---------------------------------------------------------------------------
// Reading files

/** A file as the user named it: the setting, for the error line, and the path. */
interface Source {
  readonly setting: string
  readonly file: string
}

const fail = (source: Source, problem: string) =>
  Effect.fail(new CertificateError({ setting: source.setting, file: source.file, problem }))

/** What to tell the user about a file that could not be read, from the read's error. */
export const readProblem = (error: unknown): string => {
  const code = typeof error === "object" && error !== null && "code" in error ? error.code : undefined
  switch (code) {
    case "ENOENT":
    case "ENOTDIR":
      return "no such file"
    case "EACCES":
    case "EPERM":
      return "cannot be read: permission denied"
    case "EISDIR":
      return "is a directory, not a file"
    default:
      return `cannot be read: ${error instanceof Error ? error.message : String(error)}`
  }
}

/** The file's bytes; an empty (or blank) file is a problem of its own, clearer than "not PEM". */
const readFile = (source: Source): Effect.Effect<Buffer, CertificateError> =>
  Effect.try({
    try: () => readFileSync(source.file),
    catch: (error) => new CertificateError({ setting: source.setting, file: source.file, problem: readProblem(error) })
  }).pipe(
    Effect.filterOrElse(
      (bytes) => bytes.toString("latin1").trim() !== "",
      () => fail(source, "is empty")
    )
  )

/**
 * A DER file (binary ASN.1) starts with a SEQUENCE tag and a long-form length:
 * the likeliest "not PEM" mistake, worth naming with its fix.
 */
const looksLikeDer = (bytes: Buffer): boolean =>
  bytes[0] === 0x30 && bytes[1] !== undefined && bytes[1] >= 0x81 && bytes[1] <= 0x84

// ---------------------------------------------------------------------------
// PEM

/** One `-----BEGIN X-----` ... `-----END X-----` block; `text` undefined when its END line is missing. */
export interface PemBlock {
  readonly label: string
  readonly text: string | undefined
}

/** The PEM blocks of a file's text, in order; text around and between them is ignored, as OpenSSL does. */
export const pemBlocks = (text: string): ReadonlyArray<PemBlock> => {
  const blocks: Array<PemBlock> = []
  let consumed = 0
  for (const begin of text.matchAll(/-----BEGIN ([A-Z0-9][A-Z0-9 ]*)-----/g)) {
    if (begin.index < consumed) continue
    const label = begin[1]!
    const endLine = `-----END ${label}-----`
    const end = text.indexOf(endLine, begin.index)
    if (end === -1) {
      blocks.push({ label, text: undefined })
      continue
    }
    consumed = end + endLine.length
    blocks.push({ label, text: `${text.slice(begin.index, consumed)}\n` })
  }
  return blocks
}

/** "PRIVATE KEY, CERTIFICATE": what a file holds instead of what was wanted. */
const labelsOf = (blocks: ReadonlyArray<PemBlock>): string =>
  [...new Set(blocks.map((block) => block.label))].join(", ")

/** Why a PEM block holds nothing wanted: either it is no PEM at all, or it holds only other kinds. */
const missingBlock = (bytes: Buffer, blocks: ReadonlyArray<PemBlock>, wanted: string, derFix: string): string =>
  blocks.length > 0
    ? `${wanted} (it holds ${labelsOf(blocks)})`
    : looksLikeDer(bytes)
    ? `not a PEM file: ${wanted} (it looks like binary DER; \`${derFix}\` converts it)`
    : `not a PEM file: ${wanted}`

/** OpenSSL's own words for why it refused something ("wrong tag"), else the error's message. */
const opensslReason = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "reason" in error && typeof error.reason === "string") {
    return error.reason
  }
  return error instanceof Error ? error.message : String(error)
}

// ---------------------------------------------------------------------------
// Certificates

interface Certificate {
  readonly pem: string
  readonly x509: X509Certificate
}

type Chain = Arr.NonEmptyReadonlyArray<Certificate>

/** A chain as one PEM text, leaf first, as `cert` of a TLS context wants it. */
const pemOf = (chain: Chain): string => chain.map((certificate) => certificate.pem).join("")

/** Every certificate of a file (a chain, or a bundle of CAs), each parsed: at least one. */
const readCertificates = (source: Source): Effect.Effect<Chain, CertificateError> =>
  Effect.gen(function*() {
    const bytes = yield* readFile(source)
    const blocks = pemBlocks(bytes.toString("utf8"))
    const certificates = blocks.filter((block) => block.label === "CERTIFICATE")
    if (!Arr.isNonEmptyReadonlyArray(certificates)) {
      return yield* fail(
        source,
        missingBlock(bytes, blocks, "no -----BEGIN CERTIFICATE----- block", "openssl x509 -inform DER")
      )
    }
    const count = certificates.length
    return yield* Effect.forEach(certificates, (block, index) =>
      Either.match(parseCertificate(block), {
        onRight: Effect.succeed,
        onLeft: (reason) =>
          fail(
            source,
            `not a valid certificate${count === 1 ? "" : ` (certificate ${index + 1} of ${count})`}: ${reason}`
          )
      }))
  })

const parseCertificate = (block: PemBlock): Either.Either<Certificate, string> => {
  const pem = block.text
  if (pem === undefined) return Either.left(`no -----END ${block.label}----- line`)
  return Either.try({ try: () => ({ pem, x509: new X509Certificate(pem) }), catch: opensslReason })
}

// ---------------------------------------------------------------------------
// Private keys

interface PrivateKey {
  readonly pem: string
  readonly key: KeyObject
}

/** PKCS#8 `PRIVATE KEY`, and the older `RSA PRIVATE KEY`, `EC PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`... */
const isPrivateKeyLabel = (label: string): boolean => label === "PRIVATE KEY" || label.endsWith(" PRIVATE KEY")

/** PKCS#8 encryption shows in the label, the older OpenSSL one in a `Proc-Type` header. */
const isEncrypted = (block: PemBlock): boolean =>
  block.label === "ENCRYPTED PRIVATE KEY" || (block.text !== undefined && /^Proc-Type:\s*4,ENCRYPTED/m.test(block.text))

/** The one private key of a file, parsed. There is no passphrase setting, so an encrypted key cannot be used. */
const readPrivateKey = (source: Source): Effect.Effect<PrivateKey, CertificateError> =>
  Effect.gen(function*() {
    const bytes = yield* readFile(source)
    const blocks = pemBlocks(bytes.toString("utf8"))
    const keys = blocks.filter((block) => isPrivateKeyLabel(block.label))
    const block = keys[0]
    if (block === undefined) {
      return yield* fail(source, missingBlock(bytes, blocks, "no PEM private key", "openssl pkey -inform DER"))
    }
    if (keys.length > 1) return yield* fail(source, `holds ${keys.length} private keys; give one`)
    if (isEncrypted(block)) return yield* fail(source, "is encrypted; give an unencrypted key")
    const pem = block.text
    if (pem === undefined) return yield* fail(source, `not a valid private key: no -----END ${block.label}----- line`)
    return yield* Effect.try({
      try: () => ({ pem, key: createPrivateKey(pem) }),
      catch: (error) =>
        new CertificateError({
          setting: source.setting,
          file: source.file,
          problem: `not a valid private key: ${opensslReason(error)}`
        })
    })
  })

/** The key of `source`, which must be the one of `leaf` (read from `certFile`). */
const readMatchingKey = (
  source: Source,
  leaf: Certificate,
  certFile: string
): Effect.Effect<PrivateKey, CertificateError> =>
  readPrivateKey(source).pipe(
    Effect.filterOrElse(
      (key) => keyMatches(leaf.x509, key.key),
      () => fail(source, `does not match the certificate in ${certFile}`)
    )
  )

/** A key of another type than the certificate's makes checkPrivateKey throw rather than say false. */
const keyMatches = (certificate: X509Certificate, key: KeyObject): boolean => {
  try {
    return certificate.checkPrivateKey(key)
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------
// The TLS context

/**
 * Builds the TLS context, which checks what parsing cannot: OpenSSL's security
 * level ("ee key too small", "ca md too weak"). Its error names no file, so it is
 * laid on the CA file if the context builds without the CAs, else on the
 * certificate file.
 */
const checkedSecureContext = (
  options: { readonly cert?: string; readonly key?: string; readonly ca: ReadonlyArray<string> | undefined },
  certSource: Source,
  caSource: Source | undefined
): Effect.Effect<tls.SecureContext, CertificateError> => {
  const built = secureContext(options)
  if (Either.isRight(built)) return Effect.succeed(built.right)
  const blamesCas = caSource !== undefined &&
    (options.cert === undefined || Either.isRight(secureContext({ ...options, ca: undefined })))
  return fail(blamesCas ? caSource : certSource, `cannot be used for TLS: ${built.left}`)
}

const secureContext = (
  options: { readonly cert?: string; readonly key?: string; readonly ca: ReadonlyArray<string> | undefined }
): Either.Either<tls.SecureContext, string> =>
  Either.try({
    try: () =>
      tls.createSecureContext({
        ...(options.cert === undefined ? {} : { cert: options.cert }),
        ...(options.key === undefined ? {} : { key: options.key }),
        ...(options.ca === undefined ? {} : { ca: [...options.ca] })
      }),
    catch: opensslReason
  })

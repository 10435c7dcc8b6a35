import * as Either from "effect/Either"
import { BlockList, isIPv4, isIPv6 } from "node:net"

/** An address block such as `10.0.0.0/8`, `192.168.1.7` (a /32) or `fd00::/8`. */
export interface Cidr {
  readonly family: "ipv4" | "ipv6"
  readonly network: string
  readonly prefix: number
}

export const formatCidr = (cidr: Cidr): string => `${cidr.network}/${cidr.prefix}`

const ipv4Bits = (address: string): bigint =>
  address.split(".").reduce((bits, octet) => (bits << 8n) | BigInt(Number(octet)), 0n)

/** The 128 bits of an IPv6 literal, `::` and a dotted IPv4 tail included. */
const ipv6Bits = (address: string): bigint => {
  const dotted = address.lastIndexOf(".") > 0 ? address.slice(address.lastIndexOf(":") + 1) : undefined
  const hex = dotted === undefined ? address : address.slice(0, address.lastIndexOf(":") + 1) + "0:0"
  const [head = "", tail] = hex.split("::")
  const groups = (text: string) => (text.length === 0 ? [] : text.split(":"))
  const left = groups(head)
  const right = tail === undefined ? [] : groups(tail)
  const all = [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right]
  const bits = all.reduce((sum, group) => (sum << 16n) | BigInt(parseInt(group, 16)), 0n)
  return dotted === undefined ? bits : (bits & ~0xffffffffn) | ipv4Bits(dotted)
}

/** Parses one block; a bare address is a block of one. Host bits set past the prefix are refused, as a likely typo. */
export const parseCidr = (text: string): Either.Either<Cidr, string> => {
  const trimmed = text.trim()
  const slash = trimmed.indexOf("/")
  const addressText = slash === -1 ? trimmed : trimmed.slice(0, slash)
  const address = addressText.startsWith("[") && addressText.endsWith("]") ? addressText.slice(1, -1) : addressText
  const family = isIPv4(address) ? "ipv4" : isIPv6(address) ? "ipv6" : undefined
  if (family === undefined) {
    return Either.left(`"${trimmed}" is not an address block: expected A.B.C.D/N or an IPv6 block such as fd00::/8`)
  }
  const width = family === "ipv4" ? 32 : 128
  const prefixText = slash === -1 ? String(width) : trimmed.slice(slash + 1)
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > width) {
    return Either.left(`"${trimmed}": the prefix length must be a number from 0 to ${width}`)
  }
  const prefix = Number(prefixText)
  const bits = family === "ipv4" ? ipv4Bits(address) : ipv6Bits(address)
  const hostMask = (1n << BigInt(width - prefix)) - 1n
  if ((bits & hostMask) !== 0n) {
    return Either.left(`"${trimmed}" has bits set past its /${prefix} prefix; write the network address of the block`)
  }
  return Either.right({ family, network: address, prefix })
}

/** Parses a comma-separated list of blocks, the form `--allow` and `SOCKET_PROXY_ALLOW` take. */
export const parseCidrList = (text: string): Either.Either<ReadonlyArray<Cidr>, string> => {
  const items = text.split(",").map((item) => item.trim()).filter((item) => item.length > 0)
  if (items.length === 0) return Either.left("expected at least one address block, such as 10.0.0.0/8")
  return Either.all(items.map(parseCidr))
}

/**
 * Whether a source address falls in any of the blocks. IPv4 blocks also match
 * IPv4-mapped IPv6 sources (`::ffff:10.1.2.3`), which is how a dual-stack
 * listener (`[::]:PORT`) sees IPv4 clients.
 */
export class AllowList {
  private readonly blocks = new BlockList()

  constructor(readonly cidrs: ReadonlyArray<Cidr>) {
    for (const cidr of cidrs) this.blocks.addSubnet(cidr.network, cidr.prefix, cidr.family)
  }

  allows(address: string | undefined): boolean {
    if (address === undefined) return false
    if (isIPv4(address)) return this.blocks.check(address, "ipv4")
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
    if (mapped !== null) return this.blocks.check(mapped[1]!, "ipv4") || this.blocks.check(address, "ipv6")
    return isIPv6(address) && this.blocks.check(address, "ipv6")
  }
}

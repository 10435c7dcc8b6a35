import * as Either from "effect/Either"

/**
 * How a route's byte stream is cut into messages (issue 13): `none` (no
 * messages: bytes as they come), `lines` (each ends with `\n`, so `\r\n` too),
 * `u16be` and `u32be` (a 2- or 4-byte big-endian length, then that many bytes).
 */
export const framings = ["none", "lines", "u16be", "u32be"] as const
export type Framing = (typeof framings)[number]

/** A framing that has messages. */
export type MessageFraming = Exclude<Framing, "none">

/** `none`, `lines`, `u16be` or `u32be`, in any case. */
export const parseFraming = (text: string): Either.Either<Framing, string> => {
  const found = framings.find((name) => name === text.trim().toLowerCase())
  return found === undefined ? Either.left(`expected one of ${framings.join(", ")}`) : Either.right(found)
}

/** The bytes of a length prefix. */
export const prefixBytes = (framing: "u16be" | "u32be"): number => (framing === "u16be" ? 2 : 4)

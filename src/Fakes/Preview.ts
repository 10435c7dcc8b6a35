/** Bytes shown in a preview; enough to recognise a message, short enough for one log line. */
const previewBytes = 24

/**
 * A one-line, readable view of received bytes: printable ASCII as text with
 * everything else escaped, then the first bytes in hex.
 */
export const preview = (bytes: Uint8Array): string => {
  const head = bytes.subarray(0, previewBytes)
  let text = ""
  for (const byte of head) {
    if (byte === 0x0a) text += "\\n"
    else if (byte === 0x0d) text += "\\r"
    else if (byte === 0x5c) text += "\\\\"
    else if (byte >= 0x20 && byte < 0x7f) text += String.fromCharCode(byte)
    else text += `\\x${byte.toString(16).padStart(2, "0")}`
  }
  const hex = [...head.subarray(0, 8)].map((byte) => byte.toString(16).padStart(2, "0")).join(" ")
  const more = bytes.length > head.length ? "…" : ""
  return `"${text}${more}" [${hex}${bytes.length > 8 ? " …" : ""}]`
}

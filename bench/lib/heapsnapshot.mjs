// Summarises a V8 heap snapshot file (.heapsnapshot) without JSON.parse-ing it whole
// (a snapshot of thousands of sessions is hundreds of MB): the node and edge arrays
// are scanned as numbers straight from the bytes, only the string table is parsed.
// A snapshot holds live objects only: V8 collects garbage before it takes one.
import { readFileSync } from "node:fs"

/** Non-negative integers between byte offsets [from, to) of `buffer`, as a typed array. */
const scanNumbers = (buffer, from, to, count) => {
  const out = new Float64Array(count)
  let n = 0
  let value = 0
  let inNumber = false
  for (let i = from; i < to; i++) {
    const c = buffer[i]
    if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48)
      inNumber = true
    } else if (inNumber) {
      out[n++] = value
      value = 0
      inNumber = false
    }
  }
  if (inNumber) out[n++] = value
  if (n !== count) throw new Error(`heap snapshot: expected ${count} numbers, read ${n}`)
  return out
}

const indexOf = (buffer, text, from = 0) => {
  const at = buffer.indexOf(text, from, "latin1")
  if (at < 0) throw new Error(`heap snapshot: no ${text}`)
  return at
}

/** Where a node goes in the summary, DevTools-like: objects by constructor, the rest by kind. */
const categoryOf = (type, name) => {
  switch (type) {
    case "object":
      return name
    case "closure":
      return "(closure)"
    case "string":
    case "concatenated string":
    case "sliced string":
      return "(string)"
    case "array":
      // V8 names what an internal array backs: "(object elements)", "(object properties)", ...
      return name === "" ? "(internal array)" : `(internal array) ${name}`
    case "code":
      return "(compiled code)"
    case "number":
      return "(heap number)"
    case "hidden":
    case "native":
      // "system / Context" (closures' captured variables), "system / Map" (hidden classes), ...
      return name.startsWith("system / ") ? name : `(${type}) ${name.length > 40 ? name.slice(0, 40) + "…" : name}`
    default:
      return `(${type})`
  }
}

/**
 * Reads `file` and returns
 * - `categories`: Map category → { count, bytes } (self sizes),
 * - `shapes`: Map "Object {a, b, c}" → { count, bytes } for plain objects, by their own property names,
 * - `closures`: Map "function-name script:line:column" → { count, bytes },
 * - `closureFiles`: Map script → { count, bytes } of the closures defined in it,
 * - `totalBytes`, `nodeCount`.
 */
export const summarizeSnapshot = (file) => {
  const buffer = readFileSync(file)
  const nodesAt = indexOf(buffer, "\"nodes\":[")
  const header = JSON.parse(buffer.toString("utf8", 0, buffer.lastIndexOf(",", nodesAt)) + "}").snapshot
  const { meta, node_count: nodeCount, edge_count: edgeCount } = header
  const nodeFields = meta.node_fields
  const edgeFields = meta.edge_fields
  const nodeTypes = meta.node_types[0]
  const edgeTypes = meta.edge_types[0]
  const edgesAt = indexOf(buffer, "\"edges\":[", nodesAt)
  const edgesEnd = indexOf(buffer, "]", edgesAt)
  const stringsAt = indexOf(buffer, "\"strings\":[", edgesEnd)
  // [node offset, script id, line, column] per function, where V8 recorded one.
  const locationsAt = buffer.indexOf("\"locations\":[", edgesEnd, "latin1")
  const locationFields = meta.location_fields ?? []
  let locations = new Float64Array(0)
  if (locationsAt >= 0 && locationsAt < stringsAt && locationFields.length > 0) {
    const locationsEnd = indexOf(buffer, "]", locationsAt)
    let numbers = 0
    for (let i = locationsAt + 13; i < locationsEnd; i++) if (buffer[i] === 44) numbers++
    const text = buffer.toString("latin1", locationsAt + 13, locationsEnd).trim()
    locations = text === "" ? locations : scanNumbers(buffer, locationsAt + 13, locationsEnd, numbers + 1)
  }
  const nodes = scanNumbers(buffer, nodesAt + 9, edgesAt, nodeCount * nodeFields.length)
  const edges = scanNumbers(buffer, edgesAt + 9, edgesEnd, edgeCount * edgeFields.length)
  const stringsEnd = buffer.lastIndexOf("]")
  const strings = JSON.parse(buffer.toString("utf8", stringsAt + 10, stringsEnd + 1))

  const nf = nodeFields.length
  const ef = edgeFields.length
  const nType = nodeFields.indexOf("type")
  const nName = nodeFields.indexOf("name")
  const nSize = nodeFields.indexOf("self_size")
  const nEdges = nodeFields.indexOf("edge_count")
  const eType = edgeFields.indexOf("type")
  const eName = edgeFields.indexOf("name_or_index")
  const propertyEdge = edgeTypes.indexOf("property")
  const objectType = nodeTypes.indexOf("object")
  const closureType = nodeTypes.indexOf("closure")
  const internalEdge = edgeTypes.indexOf("internal")

  // Where each node's edges start, to follow a closure to its script.
  const firstEdge = new Float64Array(nodeCount)
  for (let i = 0, e = 0; i < nodes.length; i += nf) {
    firstEdge[i / nf] = e
    e += nodes[i + nEdges] * ef
  }
  /** The node an internal edge called `name` of the node at `offset` leads to, or -1. */
  const internal = (offset, name) => {
    const from = firstEdge[offset / nf]
    for (let e = from; e < from + nodes[offset + nEdges] * ef; e += ef) {
      if (edges[e + eType] === internalEdge && strings[edges[e + eName]] === name) return edges[e + ef - 1]
    }
    return -1
  }
  const where = new Map()
  const lf = locationFields.length
  for (let i = 0; i + lf <= locations.length; i += lf) where.set(locations[i], [locations[i + 2], locations[i + 3]])
  /** "name script:line:column" of a closure (the function's source), as far as the snapshot tells. */
  const closureFile = (offset) => {
    const shared = internal(offset, "shared")
    const script = shared < 0 ? -1 : Math.max(internal(shared, "script_or_debug_info"), internal(shared, "script"))
    return script < 0 ? "" : strings[nodes[script + nName]]
  }
  const closureKey = (offset, name, file) => {
    const label = name === "" ? "(anonymous)" : name
    const at = where.get(offset)
    if (file === "" && at === undefined) return label
    return `${label} ${file}${at === undefined ? "" : `:${at[0] + 1}:${at[1] + 1}`}`
  }

  const add = (map, key, bytes) => {
    const entry = map.get(key)
    if (entry === undefined) map.set(key, { count: 1, bytes })
    else {
      entry.count++
      entry.bytes += bytes
    }
  }
  const categories = new Map()
  const shapes = new Map()
  const closures = new Map()
  const closureFiles = new Map()
  let totalBytes = 0
  let edge = 0
  for (let i = 0; i < nodes.length; i += nf) {
    const type = nodes[i + nType]
    const name = strings[nodes[i + nName]]
    const bytes = nodes[i + nSize]
    const edgesHere = nodes[i + nEdges]
    totalBytes += bytes
    add(categories, categoryOf(nodeTypes[type], name), bytes)
    if (type === objectType && name === "Object") {
      const names = []
      for (let e = edge; e < edge + edgesHere * ef; e += ef) {
        if (edges[e + eType] !== propertyEdge) continue
        const property = strings[edges[e + eName]]
        if (property !== "__proto__") names.push(property)
      }
      names.sort()
      add(shapes, `Object {${names.length > 8 ? names.slice(0, 8).join(", ") + ", …" : names.join(", ")}}`, bytes)
    } else if (type === closureType) {
      const file = closureFile(i)
      add(closures, closureKey(i, name, file), bytes)
      add(closureFiles, file === "" ? "(no script: native or bound)" : file, bytes)
    }
    edge += edgesHere * ef
  }
  return { categories, shapes, closures, closureFiles, totalBytes, nodeCount }
}

/** `after` − `before`, per `per` (e.g. sessions), for one of the maps above; sorted by bytes, largest first. */
export const diffPer = (before, after, per) => {
  const keys = new Set([...before.keys(), ...after.keys()])
  const rows = []
  for (const key of keys) {
    const a = after.get(key) ?? { count: 0, bytes: 0 }
    const b = before.get(key) ?? { count: 0, bytes: 0 }
    rows.push({ key, count: (a.count - b.count) / per, bytes: (a.bytes - b.bytes) / per })
  }
  return rows.sort((x, y) => y.bytes - x.bytes)
}

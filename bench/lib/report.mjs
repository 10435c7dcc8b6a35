// Turns a results object (see run.mjs) into the markdown table and the SVG plot.

const fmt = (value, digits) => Number.isNaN(value) || value === undefined ? "–" : value.toFixed(digits)

const cell = (summary, digits) => {
  if (summary === undefined) return "–"
  const { median, min, max, runs } = summary
  if (Number.isNaN(median)) return "–"
  if (runs.length < 2 || min === max) return fmt(median, digits)
  return `${fmt(median, digits)} (${fmt(min, digits)}–${fmt(max, digits)})`
}

const medianOf = (summary) => (summary === undefined ? Number.NaN : summary.median)

/**
 * A row's comparison of proxy with reference: `row.compare` is "ratio" (proxy /
 * reference, the default) or "difference" (proxy − reference, in the figure's unit).
 */
const comparison = (row) => {
  const p = medianOf(row.proxy)
  const r = medianOf(row.reference)
  if (Number.isNaN(p) || Number.isNaN(r)) return Number.NaN
  if (row.compare === "difference") return p - r
  return r === 0 ? Number.NaN : p / r
}

const comparisonCell = (row) => {
  if (row.noRatio) return ""
  const value = comparison(row)
  if (Number.isNaN(value)) return "–"
  if (row.compare === "difference") return `${value >= 0 ? "+" : "−"}${fmt(Math.abs(value), row.digits)}`
  return `${value.toFixed(2)}x`
}

const ops = {
  ">=": { text: "≥", holds: (a, b) => a >= b },
  "<=": { text: "≤", holds: (a, b) => a <= b },
  "<": { text: "<", holds: (a, b) => a < b }
}

/**
 * `row.target`: { on: "comparison" | "proxy", op: ">=" | "<=" | "<", value, unit? }:
 * on the comparison column (ratio or difference) or on the proxy's own figure.
 */
const targetCell = (row) => {
  const t = row.target
  if (t === undefined) return ""
  const op = ops[t.op].text
  if (t.on === "proxy") return `${op} ${t.value}${t.unit ? " " + t.unit : ""}`
  if (row.compare === "difference") return `${op} +${t.value}${t.unit ? " " + t.unit : ""}`
  return `${op} ${t.value.toFixed(2)}x`
}

/** true, false, or undefined where a figure is missing. */
export const targetHolds = (row) => {
  const t = row.target
  if (t === undefined) return undefined
  const value = t.on === "proxy" ? medianOf(row.proxy) : comparison(row)
  if (Number.isNaN(value)) return undefined
  return ops[t.op].holds(value, t.value)
}

const holdsCell = (row, judged) => {
  if (row.target === undefined) return ""
  if (!judged) return "not judged"
  const holds = targetHolds(row)
  return holds === undefined ? "–" : holds ? "yes" : "**no**"
}

/** The markdown table: one row per figure, medians with the runs' range, the target and whether it holds. */
export const markdownTable = (results) => {
  const judged = results.settings.mode === "full"
  const lines = [
    "| scenario | figure | proxy | reference | proxy vs reference | target | holds | harness ceiling |",
    "|---|---|---:|---:|---:|---:|:---:|---:|"
  ]
  for (const row of results.rows) {
    lines.push(
      `| ${row.scenario} | ${row.figure} | ${cell(row.proxy, row.digits)} | ${cell(row.reference, row.digits)} | ${
        comparisonCell(row)
      } | ${targetCell(row)} | ${holdsCell(row, judged)} | ${row.ceiling ? cell(row.ceiling, row.digits) : ""} |`
    )
  }
  const targets = results.rows.filter((row) => row.target !== undefined)
  const held = targets.filter((row) => targetHolds(row) === true).length
  const m = results.machine
  return [
    `${m.cpus} × ${m.cpuModel}, Node ${m.node}, ${m.platform}; load average ${m.loadBefore} before, ${m.loadAfter} after; ${results.date}; commit ${m.commit}.`,
    `Medians of ${results.settings.runs} run(s) (range in brackets) unless the scenario says otherwise; mode: ${results.settings.mode}. ` +
    (judged
      ? `Targets: ${held} of ${targets.length} hold.`
      : "Targets are not judged in a quick run (tiny sizes, one run)."),
    "",
    ...lines,
    ...(results.notes.length > 0 ? ["", ...results.notes.map((note) => `- ${note}`)] : [])
  ].join("\n")
}

const escape = (text) => String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;")

/** A grouped bar chart panel: groups of {label, bars: [{name, value}]}. */
const panel = ({ x, y, width, height, title, unit, groups, colors }) => {
  const max = Math.max(1e-9, ...groups.flatMap((g) => g.bars.map((b) => (Number.isFinite(b.value) ? b.value : 0))))
  const plotTop = y + 40
  const plotHeight = height - 90
  const groupWidth = width / Math.max(1, groups.length)
  const parts = [
    `<text x="${x + width / 2}" y="${y + 20}" text-anchor="middle" font-size="15" font-weight="bold">${
      escape(title)
    }</text>`,
    `<line x1="${x}" y1="${plotTop + plotHeight}" x2="${x + width}" y2="${plotTop + plotHeight}" stroke="#333"/>`
  ]
  groups.forEach((group, gi) => {
    const barWidth = (groupWidth * 0.8) / group.bars.length
    const gx = x + gi * groupWidth + groupWidth * 0.1
    group.bars.forEach((bar, bi) => {
      const value = Number.isFinite(bar.value) ? bar.value : 0
      const h = (value / max) * plotHeight
      const bx = gx + bi * barWidth
      parts.push(
        `<rect x="${bx.toFixed(1)}" y="${(plotTop + plotHeight - h).toFixed(1)}" width="${
          (barWidth - 2).toFixed(1)
        }" height="${h.toFixed(1)}" fill="${colors[bar.name]}"><title>${
          escape(`${bar.name}: ${value.toFixed(2)} ${unit}`)
        }</title></rect>`,
        `<text x="${(bx + barWidth / 2 - 1).toFixed(1)}" y="${
          (plotTop + plotHeight - h - 4).toFixed(1)
        }" text-anchor="middle" font-size="10">${value >= 100 ? value.toFixed(0) : value.toFixed(2)}</text>`
      )
    })
    parts.push(
      `<text x="${(gx + groupWidth * 0.4).toFixed(1)}" y="${
        plotTop + plotHeight + 16
      }" text-anchor="middle" font-size="12">${escape(group.label)}</text>`
    )
  })
  parts.push(`<text x="${x}" y="${plotTop - 8}" font-size="11" fill="#555">${escape(unit)}</text>`)
  return parts.join("\n")
}

/** Throughput and p99 latency, proxy against the reference (and the harness ceiling), as one SVG. */
export const svgPlot = (results) => {
  const colors = { proxy: "#4169e1", reference: "#999999", ceiling: "#d9d9d9" }
  const throughputGroups = results.rows
    .filter((r) => r.figure === "MB/s (sum over destinations)")
    .map((r) => ({
      label: r.scenario.replace("throughput ", ""),
      bars: [
        { name: "proxy", value: r.proxy?.median },
        { name: "reference", value: r.reference?.median },
        { name: "ceiling", value: r.ceiling?.median }
      ]
    }))
  const latencyGroups = results.rows
    .filter((r) => r.figure === "p99 latency, ms")
    .map((r) => ({
      label: r.scenario.replace(/^latency 1→2, \d+ msg\/s, /, "").replace("many sources ", ""),
      bars: [
        { name: "proxy", value: r.proxy?.median },
        { name: "reference", value: r.reference?.median }
      ]
    }))
  const width = 960
  const height = 380
  const legend = Object.entries(colors)
    .map(([name, color], i) =>
      `<rect x="${20 + i * 120}" y="${height - 22}" width="12" height="12" fill="${color}"/><text x="${
        36 + i * 120
      }" y="${height - 12}" font-size="12">${name === "ceiling" ? "harness ceiling" : name}</text>`
    )
    .join("\n")
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    panel({
      x: 20,
      y: 10,
      width: 440,
      height: height - 30,
      title: "Throughput, 1 source → N destinations",
      unit: "MB/s, higher is better",
      groups: throughputGroups,
      colors
    }),
    panel({
      x: 500,
      y: 10,
      width: 440,
      height: height - 30,
      title: "p99 one-way latency",
      unit: "ms, lower is better",
      groups: latencyGroups,
      colors
    }),
    legend,
    `<text x="${width - 20}" y="${height - 12}" text-anchor="end" font-size="11" fill="#555">${
      escape(`${results.machine.cpus} CPUs, Node ${results.machine.node}, ${results.date}`)
    }</text>`,
    "</svg>",
    ""
  ].join("\n")
}

/** ASCII charts for a terminal: a series over time, readable at a glance. */

const blocks = " ▁▂▃▄▅▆▇█"

/**
 * A `height`-row chart of `values` (oldest left), squeezed or stretched to
 * `width` columns (each column shows the highest value it covers), with the
 * scale on the left and the time axis below.
 */
export const chart = (
  title: string,
  values: ReadonlyArray<number>,
  options: {
    readonly width?: number
    readonly height?: number
    readonly unit: (value: number) => string
    readonly seconds: number
  }
): string => {
  const width = options.width ?? 60
  const height = options.height ?? 8
  if (values.length === 0) return `${title}: no samples`
  const columns: Array<number> = []
  for (let c = 0; c < width; c++) {
    const from = Math.floor((c * values.length) / width)
    const to = Math.max(from + 1, Math.floor(((c + 1) * values.length) / width))
    columns.push(Math.max(...values.slice(from, Math.min(to, values.length))))
  }
  const top = Math.max(...columns, 1e-9)
  const label = (value: number) => options.unit(value).padStart(10)
  const lines = [title]
  for (let row = height - 1; row >= 0; row--) {
    const cells = columns.map((value) => {
      const filled = (value / top) * height - row
      return filled >= 1 ? blocks[8]! : filled <= 0 ? " " : blocks[Math.max(1, Math.round(filled * 8))]!
    })
    const scale = row === height - 1 ? label(top) : row === 0 ? label(0) : " ".repeat(10)
    lines.push(`${scale} ┤${cells.join("")}`)
  }
  lines.push(`${" ".repeat(10)} └${"─".repeat(width)}`)
  const end = `${Math.round(options.seconds)}s`
  lines.push(`${" ".repeat(12)}0s${" ".repeat(Math.max(1, width - 2 - end.length))}${end}`)
  return lines.join("\n")
}

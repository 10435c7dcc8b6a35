/** The middle value (mean of the two middle ones for an even count); NaN for none. */
export const median = (values) => {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Median and spread (min, max) of several runs' values. */
export const summarize = (values) => ({
  median: median(values),
  min: Math.min(...values),
  max: Math.max(...values),
  runs: values
})

/** The `p` quantile (0..1) of a list of numbers, nearest rank. */
export const percentile = (values, p) => {
  if (values.length === 0) return Number.NaN
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]
}

/** Latency histogram with 0.1 ms buckets up to 2 s (the last bucket takes the rest). */
export const histogramBucketMs = 0.1
export const histogramBuckets = 20_000

export const histogramAdd = (histogram, ms) => {
  histogram[Math.min(histogramBuckets - 1, Math.max(0, Math.floor(ms / histogramBucketMs)))]++
}

/** The `p` quantile of a histogram, as the upper edge of its bucket. */
export const histogramPercentile = (histogram, p) => {
  let total = 0
  for (const count of histogram) total += count
  if (total === 0) return Number.NaN
  const rank = Math.ceil(p * total)
  let seen = 0
  for (let i = 0; i < histogram.length; i++) {
    seen += histogram[i]
    if (seen >= rank) return (i + 1) * histogramBucketMs
  }
  return histogram.length * histogramBucketMs
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Rejects with `what` if `promise` has not settled within `ms`. */
export const within = (promise, ms, what) => {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
    })
  ]).finally(() => clearTimeout(timer))
}

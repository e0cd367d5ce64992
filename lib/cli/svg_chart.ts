// A hand-written SVG chart of the demo's results: one panel per key with the readings, the forecasts,
// the labelled anomalies (shaded) and the flagged points of the pipeline and of the baseline.

export interface ChartSeries {
  name: string
  /** Time (ms) per point, ascending. */
  time: Float64Array
  value: Float64Array
  forecast: Float64Array
  /** 1 = labelled anomaly (NaN = unknown). */
  label: Float64Array
  flagged: Uint8Array
  baseline: Uint8Array
}

export interface ChartOptions {
  title: string
  subtitle?: string
  unit?: string
  width?: number
  /** Most line points per panel (min/max per bucket beyond that). Default 900. */
  maxPoints?: number
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const fmt = (v: number) => (Math.round(v * 10) / 10).toString()

/** Indices to draw: every point, or per bucket the first, min and max (keeps spikes visible). */
function decimate(value: Float64Array, maxPoints: number): number[] {
  const n = value.length
  if (n <= maxPoints) return Array.from({ length: n }, (_, i) => i)
  const buckets = Math.floor(maxPoints / 2)
  const picked: number[] = []
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor((b * n) / buckets), hi = Math.floor(((b + 1) * n) / buckets)
    let min = -1, max = -1
    for (let i = lo; i < hi; i++) {
      if (Number.isNaN(value[i]!)) continue
      if (min < 0 || value[i]! < value[min]!) min = i
      if (max < 0 || value[i]! > value[max]!) max = i
    }
    if (min >= 0) picked.push(Math.min(min, max), Math.max(min, max))
  }
  return [...new Set(picked)]
}

function path(time: Float64Array, value: Float64Array, idx: number[], x: (t: number) => number, y: (v: number) => number): string {
  let d = '', pen = false
  for (const i of idx) {
    const v = value[i]!
    if (Number.isNaN(v)) {
      pen = false
      continue
    }
    d += `${pen ? 'L' : 'M'}${fmt(x(time[i]!))} ${fmt(y(v))}`
    pen = true
  }
  return d
}

export function renderChart(series: ChartSeries[], options: ChartOptions): string {
  const W = options.width ?? 1000, panelH = 170, top = 64, left = 62, right = 16, gap = 34
  const H = top + series.length * (panelH + gap) + 40
  const maxPoints = options.maxPoints ?? 900
  const parts: string[] = []
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`)
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`)
  parts.push(`<text x="${left}" y="24" font-size="16" font-weight="bold">${escape(options.title)}</text>`)
  if (options.subtitle) parts.push(`<text x="${left}" y="42" fill="#555">${escape(options.subtitle)}</text>`)
  // Legend.
  const lx = W - right - 520
  parts.push(`<g transform="translate(${lx},52)">` +
    `<line x1="0" y1="0" x2="18" y2="0" stroke="#1f77b4" stroke-width="1.5"/><text x="22" y="4">reading</text>` +
    `<line x1="80" y1="0" x2="98" y2="0" stroke="#ff7f0e" stroke-width="1.5" stroke-dasharray="4 2"/><text x="102" y="4">LSTM forecast</text>` +
    `<rect x="190" y="-6" width="14" height="12" fill="#f4a3a3" fill-opacity="0.45"/><text x="208" y="4">labelled anomaly</text>` +
    `<circle cx="318" cy="0" r="3.5" fill="#d62728"/><text x="326" y="4">flagged (LSTM)</text>` +
    `<path d="M418 4 L422 -4 L426 4 Z" fill="#555"/><text x="432" y="4">flagged (baseline)</text></g>`)
  series.forEach((s, p) => {
    const y0 = top + p * (panelH + gap) + 14
    const n = s.time.length
    const t0 = n > 0 ? s.time[0]! : 0, t1 = n > 1 ? s.time[n - 1]! : t0 + 1
    let vmin = Infinity, vmax = -Infinity
    for (let i = 0; i < n; i++) {
      for (const v of [s.value[i]!, s.forecast[i]!]) {
        if (Number.isNaN(v)) continue
        if (v < vmin) vmin = v
        if (v > vmax) vmax = v
      }
    }
    if (!Number.isFinite(vmin)) { vmin = 0; vmax = 1 }
    if (vmax === vmin) { vmax += 1; vmin -= 1 }
    const pad = (vmax - vmin) * 0.05
    vmin -= pad; vmax += pad
    const x = (t: number) => left + ((t - t0) / (t1 - t0)) * (W - left - right)
    const y = (v: number) => y0 + panelH - ((v - vmin) / (vmax - vmin)) * panelH
    parts.push(`<g>`)
    parts.push(`<text x="${left}" y="${y0 - 4}" font-weight="bold">${escape(s.name)}</text>`)
    parts.push(`<rect x="${left}" y="${y0}" width="${W - left - right}" height="${panelH}" fill="none" stroke="#ccc"/>`)
    // Labelled spans.
    for (let i = 0; i < n; i++) {
      if (s.label[i] !== 1) continue
      let j = i
      while (j + 1 < n && s.label[j + 1] === 1) j++
      const xa = x(s.time[i]!) - 1, xb = x(s.time[j]!) + 1
      parts.push(`<rect x="${fmt(xa)}" y="${y0}" width="${fmt(Math.max(xb - xa, 2))}" height="${panelH}" fill="#f4a3a3" fill-opacity="0.45"/>`)
      i = j
    }
    // Axes ticks: 5 on each.
    for (let k = 0; k <= 4; k++) {
      const v = vmin + ((vmax - vmin) * k) / 4
      parts.push(`<text x="${left - 6}" y="${fmt(y(v) + 4)}" text-anchor="end" fill="#555">${v.toFixed(1)}</text>`)
      const t = t0 + ((t1 - t0) * k) / 4
      parts.push(`<text x="${fmt(x(t))}" y="${y0 + panelH + 14}" text-anchor="${k === 0 ? 'start' : k === 4 ? 'end' : 'middle'}" fill="#555">${((t - t0) / 60000).toFixed(0)} min</text>`)
    }
    if (options.unit) parts.push(`<text transform="translate(14,${y0 + panelH / 2}) rotate(-90)" text-anchor="middle" fill="#555">${escape(options.unit)}</text>`)
    const idx = decimate(s.value, maxPoints)
    parts.push(`<path d="${path(s.time, s.value, idx, x, y)}" fill="none" stroke="#1f77b4" stroke-width="1.2"/>`)
    parts.push(`<path d="${path(s.time, s.forecast, decimate(s.forecast, maxPoints), x, y)}" fill="none" stroke="#ff7f0e" stroke-width="1" stroke-dasharray="4 2"/>`)
    // Baseline flags: one marker per run of consecutive flagged rows (a triangle, stretched over the run).
    for (let i = 0; i < n; i++) {
      if (!s.baseline[i]) continue
      let j = i
      while (j + 1 < n && s.baseline[j + 1]) j++
      const xa = x(s.time[i]!) - 3, xb = x(s.time[j]!) + 3
      parts.push(`<path d="M${fmt(xa)} ${fmt(y0 + panelH - 2)} L${fmt(xa + 3)} ${fmt(y0 + panelH - 9)} L${fmt(xb - 3)} ${fmt(y0 + panelH - 9)} L${fmt(xb)} ${fmt(y0 + panelH - 2)} Z" fill="#555"/>`)
      i = j
    }
    for (let i = 0; i < n; i++) {
      if (s.flagged[i] && !Number.isNaN(s.value[i]!)) parts.push(`<circle cx="${fmt(x(s.time[i]!))}" cy="${fmt(y(s.value[i]!))}" r="3" fill="#d62728"/>`)
    }
    parts.push(`</g>`)
  })
  parts.push(`</svg>`)
  return parts.join('\n') + '\n'
}

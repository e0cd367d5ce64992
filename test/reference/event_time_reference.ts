// A naive recomputation of keyed event-time windows, written straight from Flink's rules with no panes,
// rings or pools: every live window keeps the list of its events and aggregates are computed from that list
// when it fires. The engine must agree with it on every fired window, late index and metric.
export type Aggregate = 'count' | 'sum' | 'mean' | 'min' | 'max' | 'var' | 'std' | 'first' | 'last'

export interface ReferenceOptions {
  type: 'tumbling' | 'sliding' | 'session'
  size?: number
  slide?: number
  gap?: number
  offset?: number
  allowedLateness?: number
  channels: number
  aggregates: Aggregate[]
}

interface Event { t: number; arrival: number; values: number[] }
interface Window { key: number; start: number; end: number; events: Event[]; fired: boolean; dirty: boolean }

export interface ReferenceWindow { key: number; start: number; end: number; count: number; updated: boolean; values: number[] }

export class ReferenceWindows {
  watermark = -Infinity
  metrics = { onTime: 0, updating: 0, late: 0, firedWindows: 0, updateFirings: 0, ignoredWatermarks: 0 }
  private windows = new Map<string, Window>() // tumbling / sliding: `${key}:${start}`
  private sessions = new Map<number, Window[]>() // per key, sorted by start
  private arrivals = 0

  constructor(private readonly o: ReferenceOptions) {}

  push(timestamps: ArrayLike<number>, keys: ArrayLike<number> | undefined, values: ArrayLike<number>): number[] {
    const late: number[] = []
    for (let i = 0; i < timestamps.length; i++) {
      const t = timestamps[i]
      const key = keys ? keys[i] : 0
      const event: Event = { t, arrival: this.arrivals++, values: Array.from({ length: this.o.channels }, (_, c) => values[i * this.o.channels + c]) }
      const verdict = this.o.type === 'session' ? this.pushSession(key, event) : this.pushTimeWindow(key, event)
      if (verdict === 'late') late.push(i)
      this.metrics[verdict]++
    }
    return late
  }

  private cleanupPassed(end: number): boolean {
    return end - 1 + (this.o.allowedLateness ?? 0) <= this.watermark
  }

  private pushTimeWindow(key: number, e: Event): 'onTime' | 'updating' | 'late' {
    const size = this.o.size!, slide = this.o.type === 'tumbling' ? size : this.o.slide!, offset = this.o.offset ?? 0
    let start = e.t - (((e.t - offset) % slide) + slide) % slide // the last window start ≤ t
    let placed = false, updating = false
    for (; start > e.t - size; start -= slide) {
      const end = start + size
      if (this.cleanupPassed(end)) continue // this window is gone (Flink: isWindowLate)
      const id = `${key}:${start}`
      let w = this.windows.get(id)
      if (!w) this.windows.set(id, (w = { key, start, end, events: [], fired: false, dirty: false }))
      w.events.push(e)
      placed = true
      if (w.fired) w.dirty = true
      if (end - 1 <= this.watermark) updating = true // its end has passed: an allowed-late event
    }
    return !placed ? 'late' : updating ? 'updating' : 'onTime'
  }

  private pushSession(key: number, e: Event): 'onTime' | 'updating' | 'late' {
    const list = this.sessions.get(key) ?? []
    let start = e.t, end = e.t + this.o.gap!
    const merged = list.filter((s) => s.start <= end && s.end >= start) // Flink's TimeWindow.intersects
    for (const s of merged) {
      start = Math.min(start, s.start)
      end = Math.max(end, s.end)
    }
    if (this.cleanupPassed(end)) return 'late'
    const w: Window = { key, start, end, events: [], fired: false, dirty: false }
    for (const s of merged) {
      w.events.push(...s.events)
      w.fired ||= s.fired
      w.dirty ||= s.dirty
    }
    w.events.push(e)
    const rest = list.filter((s) => !merged.includes(s))
    rest.push(w)
    rest.sort((a, b) => a.start - b.start)
    this.sessions.set(key, rest)
    if (w.fired) {
      w.dirty = true
      return 'updating'
    }
    return end - 1 <= this.watermark ? 'updating' : 'onTime'
  }

  advance(watermark: number): ReferenceWindow[] {
    if (watermark < this.watermark) this.metrics.ignoredWatermarks++
    const wm = Math.max(watermark, this.watermark)
    const all = this.o.type === 'session' ? [...this.sessions.values()].flat() : [...this.windows.values()]
    const firing = all.filter((w) => w.end - 1 <= wm && (!w.fired || w.dirty))
    firing.sort((a, b) => a.end - b.end || a.key - b.key || a.start - b.start)
    const out = firing.map((w) => {
      const result = { key: w.key, start: w.start, end: w.end, count: w.events.length, updated: w.fired, values: this.aggregate(w.events) }
      this.metrics.firedWindows++
      if (w.fired) this.metrics.updateFirings++
      w.fired = true
      w.dirty = false
      return result
    })
    this.watermark = wm
    for (const [id, w] of this.windows) if (this.cleanupPassed(w.end)) this.windows.delete(id)
    for (const [key, list] of this.sessions) {
      const kept = list.filter((s) => !this.cleanupPassed(s.end))
      if (kept.length) this.sessions.set(key, kept)
      else this.sessions.delete(key)
    }
    return out
  }

  flush(): ReferenceWindow[] {
    return this.advance(Infinity)
  }

  private aggregate(events: Event[]): number[] {
    const out: number[] = []
    for (let c = 0; c < this.o.channels; c++) {
      const present = events.filter((e) => !Number.isNaN(e.values[c]))
      const xs = present.map((e) => e.values[c])
      const n = xs.length
      const sum = xs.reduce((a, b) => a + b, 0)
      const mean = n ? sum / n : NaN
      const variance = n > 1 ? xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1) : NaN
      // first / last by timestamp; ties by arrival (first keeps the earliest arrival, last the latest)
      let first: Event | undefined, last: Event | undefined
      for (const e of present) {
        if (!first || e.t < first.t || (e.t === first.t && e.arrival < first.arrival)) first = e
        if (!last || e.t > last.t || (e.t === last.t && e.arrival > last.arrival)) last = e
      }
      for (const a of this.o.aggregates) {
        switch (a) {
          case 'count': out.push(n); break
          case 'sum': out.push(sum); break
          case 'mean': out.push(mean); break
          case 'min': out.push(n ? Math.min(...xs) : NaN); break
          case 'max': out.push(n ? Math.max(...xs) : NaN); break
          case 'var': out.push(variance); break
          case 'std': out.push(Math.sqrt(variance)); break
          case 'first': out.push(first ? first.values[c] : NaN); break
          case 'last': out.push(last ? last.values[c] : NaN); break
        }
      }
    }
    return out
  }
}

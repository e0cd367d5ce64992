// Property test: WatermarkTracker against a naive model of Flink's StatusWatermarkValve with bounded
// out-of-orderness and processing-time idleness, over random operations on random inputs.
import { describe, expect, it } from 'vitest'
import { WatermarkTracker } from '../../lib/index'
import { mulberry32 as rng } from '../../lib/runtime/random'


class ModelValve {
  max: number[]
  last: number[]
  idle: boolean[]
  aligned: boolean[]
  combined = -Infinity
  allIdle = false
  constructor(private n: number, private bound: number, private timeout: number, now: number) {
    this.max = Array(n).fill(-Infinity)
    this.last = Array(n).fill(now)
    this.idle = Array(n).fill(false)
    this.aligned = Array(n).fill(true)
  }
  wm(i: number) {
    return this.max[i] === -Infinity ? -Infinity : this.max[i] - this.bound - 1
  }
  private advanceMin() {
    const active = [...Array(this.n).keys()].filter((i) => !this.idle[i] && this.aligned[i])
    if (active.length) this.combined = Math.max(this.combined, Math.min(...active.map((i) => this.wm(i))))
  }
  activate(i: number, now: number) {
    this.last[i] = now
    if (!this.idle[i]) return
    this.idle[i] = false
    this.aligned[i] = this.wm(i) >= this.combined
    this.allIdle = false
  }
  setIdle(i: number) {
    if (this.idle[i]) return
    this.idle[i] = true
    this.aligned[i] = false
    if (this.idle.every(Boolean)) {
      this.combined = Math.max(this.combined, ...[...Array(this.n).keys()].map((j) => this.wm(j)))
      this.allIdle = true
    } else this.advanceMin()
  }
  timeouts(now: number) {
    for (let i = 0; i < this.n; i++) if (!this.idle[i] && now - this.last[i] > this.timeout) this.setIdle(i)
  }
  observe(i: number, ts: number[], now: number) {
    if (!ts.length) return
    this.activate(i, now)
    const m = Math.max(...ts)
    if (m > this.max[i]) {
      this.max[i] = m
      if (!this.aligned[i] && this.wm(i) >= this.combined) this.aligned[i] = true
    }
    this.timeouts(now)
    this.advanceMin()
  }
}

describe('WatermarkTracker against a model of StatusWatermarkValve', () => {
  it('agrees on random observe / markIdle / markActive / clock sequences', () => {
    let checks = 0, idleStates = 0, realigned = 0
    for (let seed = 1; seed <= 200; seed++) {
      const r = rng(seed)
      const n = 1 + Math.floor(r() * 5), bound = Math.floor(r() * 20), timeout = r() < 0.3 ? Infinity : 5 + Math.floor(r() * 50)
      let now = 1000
      const tracker = new WatermarkTracker({ inputs: n, bound, idleTimeout: timeout, clock: () => now })
      const model = new ModelValve(n, bound, timeout, now)
      let eventTime = Math.floor(r() * 1000)
      for (let step = 0; step < 60; step++) {
        const i = Math.floor(r() * n)
        const op = r()
        now += Math.floor(r() * 20)
        if (op < 0.6) {
          const ts = Array.from({ length: Math.floor(r() * 4) }, () => (eventTime += Math.floor(r() * 15) - 4))
          tracker.observe(i, new Float64Array(ts))
          model.observe(i, ts, now)
        } else if (op < 0.75) {
          tracker.markIdle(i)
          model.setIdle(i)
        } else if (op < 0.85) {
          tracker.markActive(i)
          model.activate(i, now)
          model.timeouts(now)
        }
        model.timeouts(now)
        expect(tracker.currentWatermark(), `seed ${seed} step ${step}`).toBe(model.combined)
        expect(tracker.isIdle(), `seed ${seed} step ${step}`).toBe(model.allIdle)
        for (let j = 0; j < n; j++) expect(tracker.input(j), `seed ${seed} step ${step} input ${j}`).toEqual({ watermark: model.wm(j), idle: model.idle[j], aligned: model.aligned[j] })
        checks++
        if (model.allIdle) idleStates++
        if (model.aligned.some((a, j) => !a && !model.idle[j])) realigned++
      }
      tracker.close()
    }
    expect(checks).toBe(200 * 60)
    expect(idleStates).toBeGreaterThan(50)
    expect(realigned).toBeGreaterThan(50)
  })
})

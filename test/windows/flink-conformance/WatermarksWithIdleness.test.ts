// Ports the scenarios of Flink's WatermarksWithIdlenessTest (IdlenessTimer) with an injected clock. Flink's
// timer starts counting at the first check that saw no activity; sluice counts from the last event (or
// creation), which is the same in these scenarios: idle once strictly more than idleTimeout has passed.
import { describe, expect, it } from 'vitest'
import { WatermarkTracker } from '../../../lib/index'
import { expectSluiceError } from '../../helpers'
import { ManualClock } from './helpers'

function timer(idleTimeout: number) {
  const clock = new ManualClock()
  const tracker = new WatermarkTracker({ idleTimeout, clock: () => clock.now })
  return { clock, tracker, activity: () => tracker.observe(0, new Float64Array([1])), checkIfIdle: () => tracker.isIdle() }
}

function makeIdle(idleTimeout: number) {
  const t = timer(idleTimeout)
  t.checkIfIdle()
  t.clock.advance(idleTimeout + 1)
  expect(t.checkIfIdle()).toBe(true)
  return t
}

describe('WatermarksWithIdleness (Flink conformance)', () => {
  it('testZeroTimeout / testNegativeTimeout: rejected', () => {
    expectSluiceError(() => new WatermarkTracker({ idleTimeout: 0 }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => new WatermarkTracker({ idleTimeout: -1 }), 'ERR_INVALID_ARGUMENT')
  })

  it('testInitiallyActive', () => {
    expect(timer(10).checkIfIdle()).toBe(false)
  })

  it('testIdleWithoutEvents: idle after 11 ms of a 10 ms timeout, not at exactly 10', () => {
    const t = timer(10)
    t.checkIfIdle()
    t.clock.advance(10)
    expect(t.checkIfIdle()).toBe(false)
    t.clock.advance(1)
    expect(t.checkIfIdle()).toBe(true)
  })

  it('testRepeatedIdleChecks: stays idle', () => {
    const t = makeIdle(122)
    expect(t.checkIfIdle()).toBe(true)
    t.clock.advance(100)
    expect(t.checkIfIdle()).toBe(true)
  })

  it('testActiveAfterIdleness: an event makes the input active', () => {
    const t = makeIdle(10)
    t.activity()
    expect(t.checkIfIdle()).toBe(false)
  })

  it('testIdleActiveIdle', () => {
    const t = makeIdle(122)
    t.activity()
    expect(t.checkIfIdle()).toBe(false)
    t.checkIfIdle()
    t.clock.advance(123)
    expect(t.checkIfIdle()).toBe(true)
  })

  it('a `now` argument overrides the clock', () => {
    const tracker = new WatermarkTracker({ idleTimeout: 5, clock: () => 0 })
    tracker.observe(0, new Float64Array([100]), 1000)
    expect(tracker.isIdle(1005)).toBe(false)
    expect(tracker.isIdle(1006)).toBe(true)
  })
})

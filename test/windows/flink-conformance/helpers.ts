// Shared helpers for the Flink conformance tests: Flink's tests feed watermarks to each input directly; a
// WatermarkTracker with bound 0 turns an event at W + 1 into exactly the input watermark W.
import { WatermarkTracker } from '../../../lib/index'

export class ManualClock {
  now = 1_000_000
  advance(ms: number): void {
    this.now += ms
  }
}

export function valve(inputs: number, clock = new ManualClock(), idleTimeout = Infinity): { tracker: WatermarkTracker; emit: (input: number, watermark: number) => number; clock: ManualClock } {
  const tracker = new WatermarkTracker({ inputs, bound: 0, idleTimeout, clock: () => clock.now })
  return { tracker, clock, emit: (input, watermark) => tracker.observe(input, new Float64Array([watermark + 1])) }
}

// Shared helpers for the Flink conformance tests: Flink's tests feed watermarks to each input directly; a
// WatermarkTracker with bound 0 turns an event at W + 1 into exactly the input watermark W.
import { WatermarkTracker } from '../../../lib/index'

export class ManualClock {
  now = 1_000_000
  advance(ms: number): void {
    this.now += ms
  }
}

export interface Valve {
  tracker: WatermarkTracker
  clock: ManualClock
  /** An event at `watermark` + 1 on `input`; returns the combined watermark after it. */
  emit(input: number, watermark: number): number
  /** `emit` for each [input, watermark] in turn; returns the combined watermark after each. */
  emits(...steps: [input: number, watermark: number][]): number[]
  /** markIdle / markActive for each [status, input] in turn; returns whether every input is idle after each. */
  setStatuses(...steps: [status: 'idle' | 'active', input: number][]): boolean[]
  /** The combined watermark and whether every input is idle, to check both at once. */
  combined(): { watermark: number; idle: boolean }
}

export function valve(inputs: number, clock = new ManualClock(), idleTimeout = Infinity): Valve {
  const tracker = new WatermarkTracker({ inputs, bound: 0, idleTimeout, clock: () => clock.now })
  const emit = (input: number, watermark: number) => tracker.observe(input, new Float64Array([watermark + 1]))
  return {
    tracker,
    clock,
    emit,
    emits: (...steps) => steps.map(([input, watermark]) => emit(input, watermark)),
    setStatuses: (...steps) =>
      steps.map(([status, input]) => {
        if (status === 'idle') tracker.markIdle(input)
        else tracker.markActive(input)
        return tracker.isIdle()
      }),
    combined: () => ({ watermark: tracker.currentWatermark(), idle: tracker.isIdle() }),
  }
}

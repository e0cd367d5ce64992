// WatermarkTracker: Flink's bounded-out-of-orderness watermarks per input, idleness, and the combined
// watermark of all inputs (StatusWatermarkValve semantics). See docs/event-time.md.
import type { NativeWatermarkTracker } from '../runtime/addon_types'
import { SluiceError } from '../runtime/errors'
import { native } from '../runtime/native'
import { NativeObject } from '../runtime/native_object'
import { withSnapshots } from '../runtime/snapshots'
import { expectFinite, expectInteger, expectTypedArray } from '../runtime/validate'

export interface WatermarkTrackerOptions {
  /** How many inputs (partitions, gateways, files). Default 1. */
  inputs?: number
  /** Bounded out-of-orderness: an input's watermark is maxTimestamp − bound − 1. Default 0. */
  bound?: number
  /** Processing time without events after which an input is idle (strictly more than this). Default Infinity. */
  idleTimeout?: number
  /** Processing-time clock, used when a call gets no `now`. Default performance.now(). */
  clock?: () => number
}

export interface WatermarkInputState {
  /** maxTimestamp − bound − 1, or −Infinity before the input's first event. */
  watermark: number
  idle: boolean
  /** false while the input, back from idleness, is below the combined watermark (it is ignored until it catches up). */
  aligned: boolean
}

export class WatermarkTracker extends withSnapshots(NativeObject<NativeWatermarkTracker>) {
  readonly inputs: number
  readonly bound: number
  readonly idleTimeout: number
  private readonly clock: () => number

  constructor(options: WatermarkTrackerOptions = {}) {
    super()
    if (typeof options !== 'object' || options === null) throw new SluiceError('options must be an object', 'ERR_INVALID_TYPE')
    this.inputs = expectInteger(options.inputs ?? 1, 'inputs', 1, 1 << 24)
    this.bound = expectFinite(options.bound ?? 0, 'bound')
    if (this.bound < 0) throw new SluiceError(`bound must be >= 0, got ${this.bound}`, 'ERR_OUT_OF_RANGE')
    const idleTimeout = options.idleTimeout ?? Infinity
    if (typeof idleTimeout !== 'number') throw new SluiceError('idleTimeout must be a number', 'ERR_INVALID_TYPE')
    if (!(idleTimeout > 0)) throw new SluiceError(`idleTimeout must be > 0, got ${idleTimeout}`, 'ERR_INVALID_ARGUMENT')
    this.idleTimeout = idleTimeout
    if (options.clock !== undefined && typeof options.clock !== 'function') {
      throw new SluiceError('clock must be a function returning milliseconds', 'ERR_INVALID_TYPE')
    }
    this.clock = options.clock ?? (() => performance.now())
    this.attach(new (native().WatermarkTracker)(this.inputs, this.bound, this.idleTimeout, this.now(undefined)))
  }

  /** Records a batch of one input's event timestamps (all finite); returns the combined watermark. */
  observe(input: number, timestamps: Float64Array, now?: number): number {
    const handle = this.native()
    this.checkInput(input)
    expectTypedArray(timestamps, 'timestamps', Float64Array)
    return handle.observe(input, timestamps, this.now(now))
  }

  /** Marks an input idle until its next event; returns the combined watermark. */
  markIdle(input: number): number {
    const handle = this.native()
    this.checkInput(input)
    return handle.markIdle(input)
  }

  /** Marks an input active again without an event (it counts as activity at `now`). */
  markActive(input: number, now?: number): number {
    const handle = this.native()
    this.checkInput(input)
    return handle.markActive(input, this.now(now))
  }

  /** The combined watermark after applying idleness timeouts at `now` (or the clock). Never goes back. */
  currentWatermark(now?: number): number {
    const handle = this.native()
    return handle.update(this.now(now))
  }

  /** True when every input is idle (after applying timeouts at `now`). */
  isIdle(now?: number): boolean {
    const handle = this.native()
    handle.update(this.now(now))
    return handle.idle()
  }

  input(index: number): WatermarkInputState {
    const handle = this.native()
    this.checkInput(index)
    return handle.input(index)
  }

  private checkInput(input: number): void {
    expectInteger(input, 'input', 0, this.inputs - 1)
  }

  private now(now: number | undefined): number {
    return expectFinite(now ?? this.clock(), 'now')
  }
}

// snapshot() and restore(), written once for every class over a native object that can snapshot its state
// (SlidingWindow, EventTimeWindows, WatermarkTracker, LstmState). A mixin rather than a base class, so that
// a class keeps its own base (LstmState shares LstmTable with LstmWindows, which cannot snapshot).
import type { NativeSnapshotHandle } from './addon_types'
import type { NativeObject } from './native_object'
import { expectTypedArray } from './validate'

/** What a class over a snapshotting native object gains from withSnapshots(). */
export interface Snapshots {
  /**
   * The whole state (its watermark and metrics included, where it has them) as versioned, checksummed
   * bytes, for restore() here or in another process. ERR_INVALID_STATE once closed or while an async call
   * is in flight.
   */
  snapshot(): Uint8Array
  /**
   * Replaces the state with a snapshot taken from an object of the same class built with the same options
   * (an LstmState: the same model shape and capacity); going on then gives exactly the results of never
   * having stopped. All or nothing: ERR_MALFORMED_DATA or ERR_INVALID_ARGUMENT (bytes that do not parse or
   * fail their checksum, a snapshot of other options) leave the state as it was; ERR_INVALID_TYPE unless
   * `bytes` is a Uint8Array.
   */
  restore(bytes: Uint8Array): void
}

type SnapshotOwner = abstract new (...args: any[]) => NativeObject<NativeSnapshotHandle>

/** `Base` with snapshot() and restore() over its native object. */
export function withSnapshots<B extends SnapshotOwner>(Base: B): B & (abstract new (...args: any[]) => Snapshots) {
  abstract class WithSnapshots extends Base implements Snapshots {
    snapshot(): Uint8Array {
      return this.native().snapshot()
    }

    restore(bytes: Uint8Array): void {
      const handle = this.native()
      handle.restore(expectTypedArray(bytes, 'bytes', Uint8Array))
    }
  }
  return WithSnapshots
}

// The one owner of a native handle, for every class over the addon: close() frees the native memory now
// (the addon's finalizer frees it otherwise), and any use after close() is ERR_INVALID_STATE.
import type { NativeHandle } from './addon_types'
import { SluiceError } from './errors'

export abstract class NativeObject<H extends NativeHandle> {
  #handle: H | undefined

  /** Sets the handle, or replaces it (the caller closes the old one when it no longer needs it). */
  protected attach(handle: H): void {
    this.#handle = handle
  }

  /** The open handle; ERR_INVALID_STATE once closed. */
  protected native(): H {
    if (!this.#handle) throw new SluiceError(`the ${this.constructor.name} is closed`, 'ERR_INVALID_STATE')
    return this.#handle
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#handle === undefined
  }

  /** Frees the native memory now; later calls throw ERR_INVALID_STATE. Idempotent. */
  close(): void {
    this.#handle?.close()
    this.#handle = undefined
  }
}

import { SluiceError } from './errors'
import { native } from './native'

export interface CpuBackend {
  available: boolean
  /** The SIMD level the kernels use: 'avx512' | 'avx2' | 'neon' | 'portable' (SLUICE_SIMD can lower it). */
  simd: string
  /** The widest level this CPU supports. */
  simdSupported: string
  /** Hardware threads. */
  threads: number
  /** Why the CPU backend is unavailable (only when the addon itself failed to load). */
  reason?: string
}

export interface CudaBackend {
  available: boolean
  /** Why CUDA cannot be used (library not built, no driver, no device, cuDNN not found…); null when available. */
  reason: string | null
  /** Where the optional CUDA library is (or would be). */
  library: string
  driverVersion?: number
  runtimeVersion?: number
  deviceCount?: number
  device?: { name: string; computeCapability: string; totalMemory: number; freeMemory: number }
  cudnnVersion?: number
  cudnnPath?: string
}

export interface Backends {
  cpu: CpuBackend
  cuda: CudaBackend
}

/** Reports the compute backends of this process. Never throws: every problem is a `reason`. */
export function backends(): Backends {
  try {
    return native().backends()
  } catch (error) {
    const reason = error instanceof SluiceError ? error.message : String(error)
    return {
      cpu: { available: false, simd: 'none', simdSupported: 'none', threads: 0, reason },
      cuda: { available: false, reason, library: '' },
    }
  }
}

// Loads the native addon once, on first use, and explains every failure in one actionable message.
import fs from 'node:fs'
import path from 'node:path'
import nodeGypBuild from 'node-gyp-build'
import type { CudaBackend } from './backends'
import { SluiceError } from './errors'

/** The package root: lib/runtime/ and dist/runtime/ both sit two levels below it. */
export const packageRoot = path.join(__dirname, '..', '..')

/** The addon's exports. Each class's binding adds its own entry. */
export interface NativeAddon {
  directory: string
  setErrorClass(ctor: typeof SluiceError): void
  backends(): NativeBackends
  testing: {
    fillIota(array: Float64Array | Float32Array | Uint32Array, expectedLength?: number): number
    throwCoreError(code: string): never
  }
  /** The core's snapshot envelope around a payload written in TypeScript (lib/runtime/snapshot_envelope.ts). */
  snapshotEnvelope: {
    seal(kind: string, payload: Uint8Array): Uint8Array
    open(bytes: Uint8Array, kind: string): Uint8Array
  }
  [name: string]: unknown
}

export interface NativeBackends {
  cpu: { available: true; simd: string; simdSupported: string; threads: number }
  cuda: CudaBackend
}

let addon: NativeAddon | undefined

/** The addon, loaded on first call; throws SluiceError('ERR_NATIVE_LOAD') with the full explanation. */
export function native(): NativeAddon {
  if (addon) return addon
  let loaded: NativeAddon
  try {
    loaded = nodeGypBuild(packageRoot) as NativeAddon
  } catch (cause) {
    throw new SluiceError(explainLoadFailure(cause), 'ERR_NATIVE_LOAD')
  }
  loaded.setErrorClass(SluiceError)
  addon = loaded
  return loaded
}

function explainLoadFailure(cause: unknown): string {
  const platformTag = `${process.platform}-${process.arch}`
  const looked = [
    path.join(packageRoot, 'build', 'Release', 'sluice.node'),
    path.join(packageRoot, 'build', 'Debug', 'sluice.node'),
    path.join(packageRoot, 'prebuilds', platformTag, '*.node'),
  ]
  const prebuildsDir = path.join(packageRoot, 'prebuilds')
  const available = fs.existsSync(prebuildsDir) ? fs.readdirSync(prebuildsDir) : []
  const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause)
  return [
    `sluice could not load its native addon for ${platformTag} (Node ${process.version}, Node-API ${process.versions.napi}).`,
    `  looked in: ${looked.join(', ')}`,
    `  prebuilt binaries in this package: ${available.length ? available.join(', ') : 'none'} (Linux builds need glibc >= 2.34)`,
    `  cause: ${reason}`,
    '  to fix: build from source with `npm rebuild sluice` (needs CMake >= 3.18 and a C++17 compiler;',
    '  nvcc optional), or install on a supported platform: linux-x64, linux-arm64, darwin-x64, darwin-arm64, win32-x64.',
  ].join('\n')
}

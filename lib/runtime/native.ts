// Loads the native addon once, on first use, and explains every failure in one actionable message.
import fs from 'node:fs'
import path from 'node:path'
import nodeGypBuild from 'node-gyp-build'
import type { NativeAddon } from './addon_types'
import { SluiceError } from './errors'

/** The package root: lib/runtime/ and dist/runtime/ both sit two levels below it. */
export const packageRoot = path.join(__dirname, '..', '..')

let addon: NativeAddon | undefined

/** The addon's typed surface, loaded on first call; throws SluiceError('ERR_NATIVE_LOAD') with the full explanation. */
export function native(): NativeAddon {
  if (addon) return addon
  let loaded: NativeAddon
  try {
    loaded = nodeGypBuild(packageRoot) as NativeAddon // the one place the addon's exports get their type
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

import { createRequire } from 'node:module'

/** The subset of @ronomon/reed-solomon we use (its API, see its README). */
export interface RonomonAddon {
  readonly MAX_K: number
  readonly MAX_M: number
  create: (k: number, m: number) => Buffer
  encode: (
    context: Buffer, sources: number, targets: number,
    buffer: Buffer, bufferOffset: number, bufferSize: number,
    parity: Buffer, parityOffset: number, paritySize: number,
    end: (error?: Error) => void
  ) => void
}

let cached: { addon: RonomonAddon | undefined, error: unknown } | undefined

/**
 * Loads the native addon once. It is an optional dependency compiled at install
 * time, so it may be missing or broken on a machine without a compiler: then this
 * returns undefined (and `nativeLoadError()` says why) instead of throwing.
 */
export function loadNativeAddon (): RonomonAddon | undefined {
  if (cached === undefined) {
    try {
      const addon = createRequire(import.meta.url)('@ronomon/reed-solomon') as RonomonAddon
      if (typeof addon.create !== 'function' || typeof addon.encode !== 'function') throw new Error('unexpected module shape')
      cached = { addon, error: undefined }
    } catch (error) {
      cached = { addon: undefined, error }
    }
  }
  return cached.addon
}

/** Why the addon could not be loaded (undefined when it loaded). */
export function nativeLoadError (): unknown {
  loadNativeAddon()
  return cached?.error
}

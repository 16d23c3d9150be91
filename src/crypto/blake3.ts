import { createRequire } from 'node:module'
import { createBLAKE3, type IHasher } from 'hash-wasm'

/**
 * BLAKE3, the hash behind piece ids (see merkle.ts), from two builds of the same function:
 *
 * - native (@napi-rs/blake-hash, prebuilt per platform, SIMD): for the bulk, 16 KiB leaves.
 *   Measured here on one core: ~4.8 GB/s on 16 KiB inputs, against ~1.5 GB/s for SHA-256 with
 *   the SHA extensions. Every piece byte is hashed by the uploader, by the node that keeps it, by a
 *   downloader and by repair, so this is CPU taken off every transfer.
 * - WebAssembly (hash-wasm): for small inputs (the 64-byte inner nodes), where a call costs ~0.5 µs
 *   against ~1.7 µs across N-API; and for everything when the native build cannot be loaded (a
 *   platform without a prebuilt binary): the same bytes out, about 0.7 GB/s.
 *
 * Both are checked against each other (and against the BLAKE3 test vectors) by the unit tests.
 * BATCHAIN_BLAKE3=wasm forces the WebAssembly build, for those tests and for debugging.
 */

export type Blake3Backend = 'native' | 'wasm'

interface NativeBlake3 { blake3: (input: Uint8Array) => Buffer }

function loadNative (): NativeBlake3 | undefined {
  if (process.env.BATCHAIN_BLAKE3 === 'wasm') return undefined
  try {
    const mod = createRequire(import.meta.url)('@napi-rs/blake-hash') as Partial<NativeBlake3>
    return typeof mod.blake3 === 'function' ? mod as NativeBlake3 : undefined
  } catch {
    return undefined
  }
}

const native = loadNative()
// Top-level await: instantiating WebAssembly is asynchronous, hashing afterwards is not.
const wasmPlain: IHasher = await createBLAKE3(256)

/** Which build hashes large inputs in this process. */
export const blake3Backend: Blake3Backend = native === undefined ? 'wasm' : 'native'

/** Inputs at least this long go to the native build (when loaded): below it the N-API call dominates. */
const NATIVE_MIN_BYTES = 1024

function view (bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** BLAKE3-256 of `data` (hash mode). */
export function blake3 (data: Uint8Array): Buffer {
  if (native !== undefined && data.byteLength >= NATIVE_MIN_BYTES) return native.blake3(data)
  wasmPlain.init()
  wasmPlain.update(data)
  return view(wasmPlain.digest('binary'))
}

/** A keyed BLAKE3-256 (keyed-hash mode) of the concatenation of its arguments; `key` is 32 bytes. */
export type KeyedBlake3 = (...parts: Uint8Array[]) => Buffer

export async function createKeyedBlake3 (key: Uint8Array): Promise<KeyedBlake3> {
  if (key.byteLength !== 32) throw new RangeError('A BLAKE3 key is 32 bytes')
  const hasher = await createBLAKE3(256, key)
  return (...parts) => {
    hasher.init()
    for (const part of parts) hasher.update(part)
    return view(hasher.digest('binary'))
  }
}

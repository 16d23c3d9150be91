import { raceSignal, throwIfAborted, type AbortOptions } from '../core/abort.js'
import { ErasureError, InvalidArgumentError } from '../core/errors.js'
import { createContext, RONOMON_MAX_K, RONOMON_MAX_M } from './bitmatrix.js'
import { runCauchyCode } from './cauchy-xor.js'
import { loadNativeAddon, nativeLoadError, type RonomonAddon } from './native-addon.js'

/** Most data shards per segment (limit of the Cauchy code's parameter table). */
export const MAX_DATA_SHARDS = RONOMON_MAX_K
/** Most parity shards per segment. */
export const MAX_PARITY_SHARDS = RONOMON_MAX_M
/** Shard sizes are multiples of this (the code XORs 8-byte words and splits shards into w <= 8 packets). */
export const SHARD_ALIGNMENT = 8

export const NATIVE_BACKEND = 'ronomon-native'
export const JS_BACKEND = 'ronomon-js'

/**
 * Reed-Solomon over one segment: k data shards and m parity shards of equal size.
 * Any k of the k + m shards rebuild the rest. All backends produce identical
 * parity bytes, so a segment encoded on one machine decodes on any other.
 */
export interface ErasureCoder {
  /** k */
  readonly dataShards: number
  /** m */
  readonly parityShards: number
  /** 'ronomon-native' (C addon in the libuv threadpool) or 'ronomon-js' (pure TypeScript port, same code). */
  readonly backend: string
  /**
   * data.length must be k*shardSize; returns the m parity shards as one buffer of
   * m*shardSize: `options.parity` when given (exactly m*shardSize bytes, any contents:
   * every byte is overwritten), else a new buffer. Neither `data` nor `parity` may be
   * touched until the promise settles; after an abort the coder may still be writing
   * `parity`, so a caller must then drop it rather than reuse it.
   */
  encode: (data: Buffer, shardSize: number, options?: EncodeOptions) => Promise<Buffer>
  /**
   * shards: length k+m, each a Buffer of shardSize or undefined when missing (at
   * least k present). Returns all k+m shards: present ones as given, missing ones rebuilt.
   */
  reconstruct: (shards: ReadonlyArray<Buffer | undefined>, shardSize: number, options?: ReconstructOptions) => Promise<Buffer[]>
}

export interface EncodeOptions extends AbortOptions {
  /** Where to write the parity shards (m*shardSize bytes), e.g. right after the data shards in one buffer. */
  parity?: Buffer
}

/** Smallest multiple of 8 (at least 8) such that k shards of it hold `length` bytes. */
export function shardSizeFor (length: number, dataShards: number): number {
  if (!Number.isSafeInteger(length) || length < 0) throw new InvalidArgumentError(`Length must be a safe integer >= 0, got ${String(length)}`)
  checkCount('dataShards', dataShards, MAX_DATA_SHARDS)
  const perShard = Math.ceil(length / dataShards)
  return Math.max(SHARD_ALIGNMENT, Math.ceil(perShard / SHARD_ALIGNMENT) * SHARD_ALIGNMENT)
}

function checkCount (name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidArgumentError(`${name} must be an integer in 1..${max}, got ${String(value)}`)
  }
}

function checkShardSize (shardSize: number): void {
  if (!Number.isSafeInteger(shardSize) || shardSize <= 0 || shardSize % SHARD_ALIGNMENT !== 0) {
    throw new ErasureError(`Shard size must be a positive multiple of ${SHARD_ALIGNMENT}, got ${String(shardSize)}`, { details: { shardSize } })
  }
}

export interface ReconstructOptions extends AbortOptions {
  /**
   * Workspace of at least (k + m) × shardSize bytes (contents unspecified): the rebuilt shards are
   * returned as views into it, so it must outlive them. Allocated when absent.
   */
  into?: Buffer
  /**
   * Rebuild only these shards (those of them that are absent). Other absent shards are left
   * uncomputed where the code allows it (an absent data shard is rebuilt on the way to a parity
   * shard, and the code may use absent slots as scratch): their entries in the result are their
   * workspace slots, contents unspecified. Repair rebuilds the pieces that were lost, not the
   * good ones it did not fetch. @defaultValue every absent shard
   */
  only?: readonly number[]
}

/** Runs the code over `data` (k*shardSize) and `parity` (m*shardSize), rebuilding `targets` from `sources`. */
type Engine = (sources: number, targets: number, data: Buffer, parity: Buffer, shardSize: number, signal: AbortSignal | undefined) => Promise<void>

class CauchyCoder implements ErasureCoder {
  constructor (
    readonly dataShards: number,
    readonly parityShards: number,
    readonly backend: string,
    private readonly engine: Engine
  ) {}

  async encode (data: Buffer, shardSize: number, options: EncodeOptions = {}): Promise<Buffer> {
    throwIfAborted(options.signal)
    checkShardSize(shardSize)
    const k = this.dataShards
    const m = this.parityShards
    if (!(data instanceof Uint8Array) || data.length !== k * shardSize) {
      throw new ErasureError(`Data must be k*shardSize = ${k * shardSize} bytes, got ${data instanceof Uint8Array ? data.length : typeof data}`, { details: { k, shardSize } })
    }
    const parity = options.parity ?? Buffer.alloc(m * shardSize)
    if (!(parity instanceof Uint8Array) || parity.length !== m * shardSize) {
      throw new ErasureError(`Parity must be m*shardSize = ${m * shardSize} bytes, got ${parity instanceof Uint8Array ? parity.length : typeof parity}`, { details: { m, shardSize } })
    }
    const sources = (1 << k) - 1
    const targets = ((1 << m) - 1) << k
    await this.engine(sources, targets, data, parity, shardSize, options.signal)
    return parity
  }

  async reconstruct (shards: ReadonlyArray<Buffer | undefined>, shardSize: number, options: ReconstructOptions = {}): Promise<Buffer[]> {
    throwIfAborted(options.signal)
    checkShardSize(shardSize)
    const k = this.dataShards
    const m = this.parityShards
    if (!Array.isArray(shards) || shards.length !== k + m) {
      throw new ErasureError(`Expected ${k + m} shard slots, got ${Array.isArray(shards) ? shards.length : typeof shards}`, { details: { k, m } })
    }
    let sources = 0
    let targets = 0
    shards.forEach((shard, i) => {
      if (shard === undefined || shard === null) {
        targets |= 1 << i
        return
      }
      if (!(shard instanceof Uint8Array) || shard.length !== shardSize) {
        throw new ErasureError(`Shard ${i} must be ${shardSize} bytes, got ${shard instanceof Uint8Array ? shard.length : typeof shard}`, { details: { index: i, shardSize } })
      }
      sources |= 1 << i
    })
    const present = shards.length - popcount(targets)
    if (options.only !== undefined) {
      let wanted = 0
      for (const i of options.only) if (Number.isInteger(i) && i >= 0 && i < k + m) wanted |= 1 << i
      targets &= wanted
    }
    if (present < k) {
      throw new ErasureError(`Need at least ${k} of ${k + m} shards to rebuild, got ${present}`, { details: { k, m, present } })
    }
    if (targets === 0) return shards as Buffer[]
    // The code works on two contiguous regions (data shards, parity shards).
    // Every present shard is copied in as a source: copying is cheaper than the
    // code recomputing a present parity shard it was not told about.
    // Every byte of both regions is either a present shard copied in or a rebuilt one written by
    // the code, so a caller's workspace (or unzeroed memory) is as good as zeroed memory.
    const work = options.into !== undefined && options.into.length >= (k + m) * shardSize ? options.into : Buffer.allocUnsafeSlow((k + m) * shardSize)
    const data = work.subarray(0, k * shardSize)
    const parity = work.subarray(k * shardSize, (k + m) * shardSize)
    const slot = (i: number): Buffer => i < k
      ? data.subarray(i * shardSize, (i + 1) * shardSize)
      : parity.subarray((i - k) * shardSize, (i - k + 1) * shardSize)
    shards.forEach((shard, i) => {
      if (shard == null) return
      const into = slot(i)
      // A shard already read into its slot of the workspace needs no copy.
      if (shard.buffer !== into.buffer || shard.byteOffset !== into.byteOffset) into.set(shard)
    })
    await this.engine(sources, targets, data, parity, shardSize, options.signal)
    return shards.map((shard, i) => shard ?? slot(i))
  }
}

function popcount (flags: number): number {
  let count = 0
  for (let f = flags; f > 0; f >>>= 1) count += f & 1
  return count
}

function nativeEngine (addon: RonomonAddon, k: number, m: number): Engine {
  const context = addon.create(k, m)
  return async (sources, targets, data, parity, shardSize, signal) => {
    const done = new Promise<void>((resolve, reject) => {
      try {
        addon.encode(context, sources, targets, data, 0, k * shardSize, parity, 0, m * shardSize, (error) => {
          if (error != null) reject(new ErasureError(`Native erasure coder failed: ${error.message}`, { cause: error }))
          else resolve()
        })
      } catch (error) {
        reject(new ErasureError(`Native erasure coder refused its arguments: ${(error as Error).message}`, { cause: error }))
      }
    })
    // On abort we stop waiting; the addon keeps the buffers referenced until it finishes.
    await raceSignal(done, signal)
  }
}

function jsEngine (k: number, m: number): Engine {
  const context = createContext(k, m)
  return async (sources, targets, data, parity, shardSize, signal) => {
    throwIfAborted(signal)
    const shards: Uint8Array[] = []
    for (let i = 0; i < k; i++) shards.push(data.subarray(i * shardSize, (i + 1) * shardSize))
    for (let i = 0; i < m; i++) shards.push(parity.subarray(i * shardSize, (i + 1) * shardSize))
    // Synchronous: it blocks the event loop for the segment's duration (a few ms per MiB).
    runCauchyCode(context, sources, targets, shards, shardSize)
  }
}

/** Whether the native addon loaded on this machine. */
export function nativeBackendAvailable (): boolean {
  return loadNativeAddon() !== undefined
}

/**
 * A coder for k data + m parity shards. Default backend: the native addon when it
 * loads, else the pure-TypeScript port (same parity bytes, slower). Asking for
 * 'native' where it did not compile is an ErasureError.
 */
export async function createErasureCoder (dataShards: number, parityShards: number, options: { backend?: 'native' | 'fallback' } = {}): Promise<ErasureCoder> {
  checkCount('dataShards', dataShards, MAX_DATA_SHARDS)
  checkCount('parityShards', parityShards, MAX_PARITY_SHARDS)
  const wanted = options.backend
  if (wanted !== undefined && wanted !== 'native' && wanted !== 'fallback') {
    throw new InvalidArgumentError(`Unknown erasure backend ${JSON.stringify(wanted)} (expected "native" or "fallback")`)
  }
  if (wanted !== 'fallback') {
    const addon = loadNativeAddon()
    if (addon !== undefined) return new CauchyCoder(dataShards, parityShards, NATIVE_BACKEND, nativeEngine(addon, dataShards, parityShards))
    if (wanted === 'native') {
      const reason = nativeLoadError()
      throw new ErasureError(`The native erasure backend (@ronomon/reed-solomon) is not available: ${reason instanceof Error ? reason.message.split('\n')[0] : String(reason)}`, { cause: reason })
    }
  }
  return new CauchyCoder(dataShards, parityShards, JS_BACKEND, jsEngine(dataShards, parityShards))
}

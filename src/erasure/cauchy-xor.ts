import { ErasureError } from '../core/errors.js'
import { createDecodingBitmatrix } from './bitmatrix.js'

/**
 * Applies the Cauchy bit-matrix code to shards: a port of `reed_solomon_encode`
 * and `dot` of @ronomon/reed-solomon 6.0.0 (MIT, Joran Dirk Greef). Same inputs,
 * same output bytes, same shortcuts: the shortcuts are not only speed, the stripe
 * chunking (`dotChunkSize`) changes the parity bytes, so it is kept exactly.
 *
 * `shards[i]` (k + m of them, each shardSize bytes) are rewritten in place for
 * every bit of `targets`, from the shards flagged in `sources`.
 */

function popcount (flags: number): number {
  let count = 0
  for (let f = flags; f > 0; f >>>= 1) count += f & 1
  return count
}

function firstFlag (flags: number): number {
  let i = 0
  while ((flags & (1 << i)) === 0) i++
  return i
}

/** Packet size of one stripe; halved to keep a stripe's working set in cache. Part of the code's definition. */
export function dotChunkSize (w: number, k: number, shardSize: number): number {
  let chunkSize = shardSize / w
  while (chunkSize > 64 && chunkSize % 2 === 0 && (1 + k * w) * chunkSize > 1048576) chunkSize /= 2
  return chunkSize
}

/**
 * Views the shards as 32-bit words when every packet boundary is word-aligned
 * (XOR four bytes per step), else as bytes. `unit` is the element size.
 */
interface Lanes { views: Array<Uint8Array | Int32Array>, unit: 1 | 4 }

function lanesOf (shards: readonly Uint8Array[], chunkSize: number): Lanes {
  const wide = chunkSize % 4 === 0 && shards.every(s => s.byteOffset % 4 === 0)
  if (!wide) return { views: shards.slice(), unit: 1 }
  return { views: shards.map(s => new Int32Array(s.buffer, s.byteOffset, s.byteLength >>> 2)), unit: 4 }
}

function copyRange (source: Uint8Array | Int32Array, sourceStart: number, target: Uint8Array | Int32Array, targetStart: number, length: number): void {
  target.set(source.subarray(sourceStart, sourceStart + length), targetStart)
}

function xorRange (source: Uint8Array | Int32Array, sourceStart: number, target: Uint8Array | Int32Array, targetStart: number, length: number): void {
  for (let i = 0; i < length; i++) {
    const t = targetStart + i
    target[t] = (target[t] as number) ^ (source[sourceStart + i] as number)
  }
}

/** target = XOR over the bit-matrix row block `row` (w rows of k*w) of the source shards' packets. */
function dot (w: number, k: number, lanes: Lanes, shardSize: number, bitmatrix: Uint8Array, rowOffset: number, sourceIndex: readonly number[], targetIndex: number): void {
  const chunkSize = dotChunkSize(w, k, shardSize)
  const unit = lanes.unit
  const chunk = chunkSize / unit
  const target = lanes.views[targetIndex] as Uint8Array | Int32Array
  const sources = sourceIndex.map(i => lanes.views[i] as Uint8Array | Int32Array)
  for (let shardOffset = 0; shardOffset < shardSize; shardOffset += w * chunkSize) {
    const base = shardOffset / unit
    let column = rowOffset
    for (let a = 0; a < w; a++) {
      let copied = false
      const targetStart = base + a * chunk
      for (let b = 0; b < k; b++) {
        const source = sources[b] as Uint8Array | Int32Array
        for (let c = 0; c < w; c++) {
          if (bitmatrix[column] !== 0) {
            if (!copied) {
              copyRange(source, base + c * chunk, target, targetStart, chunk)
              copied = true
            } else {
              xorRange(source, base + c * chunk, target, targetStart, chunk)
            }
          }
          column++
        }
      }
    }
  }
}

function xorWhole (lanes: Lanes, from: number, to: number, copy: boolean): void {
  const source = lanes.views[from] as Uint8Array | Int32Array
  const target = lanes.views[to] as Uint8Array | Int32Array
  if (copy) target.set(source)
  else xorRange(source, 0, target, 0, source.length)
}

/**
 * Rebuilds the `targets` shards from the `sources` shards (bit flags over shard
 * indices, data shards first). Same argument checks as the addon.
 */
export function runCauchyCode (context: Uint8Array, sources: number, targets: number, shards: readonly Uint8Array[], shardSize: number): void {
  const w = context[0] as number
  const k = context[1] as number
  const m = context[2] as number
  const kww = k * w * w
  if (context.length !== 3 + m * w * k * w) throw new ErasureError('Erasure context has the wrong length')
  if (shards.length !== k + m || shards.some(s => s.length !== shardSize)) throw new ErasureError('Shards do not match the erasure context')
  if (shardSize <= 0 || shardSize % 8 !== 0) throw new ErasureError('Shard size must be a positive multiple of 8')
  if (popcount(sources) < k) throw new ErasureError(`Need at least ${k} source shards`)
  if (popcount(targets) === 0 || popcount(targets) > m || (sources & targets) !== 0) throw new ErasureError('Bad erasure targets')
  const bitmatrix = context.subarray(3)
  const lanes = lanesOf(shards, dotChunkSize(w, k, shardSize))

  if (k === 1) {
    // Pure replication: every shard equals the data.
    const source = firstFlag(sources)
    for (let i = 0; i < k + m; i++) if ((targets & (1 << i)) !== 0) xorWhole(lanes, source, i, true)
    return
  }
  const firstK1 = (1 << (k + 1)) - 1
  if (popcount(targets) === 1 && popcount(sources & firstK1) === k && popcount(targets & firstK1) === 1) {
    // One erasure among the data shards and parity 0: parity row 0 is plain XOR.
    const target = firstFlag(targets)
    let copied = false
    for (let i = 0; i < k + 1; i++) {
      if ((sources & (1 << i)) !== 0) {
        xorWhole(lanes, i, target, !copied)
        copied = true
      }
    }
    return
  }
  let max = k
  let kerasures = 0
  for (let i = 0; i < k; i++) {
    if ((sources & (1 << i)) === 0) {
      max = i
      kerasures++
    }
  }
  if ((sources & (1 << k)) === 0) max = k
  if (kerasures > 1 || (kerasures === 1 && (sources & (1 << k)) === 0)) {
    const s: number[] = []
    for (let si = 0; s.length < k; si++) if ((sources & (1 << si)) !== 0) s.push(si)
    const decoding = createDecodingBitmatrix(w, k, s, bitmatrix)
    for (let i = 0; kerasures > 0 && i < max; i++) {
      if ((sources & (1 << i)) === 0) {
        dot(w, k, lanes, shardSize, decoding, kww * i, s, i)
        kerasures--
      }
    }
  }
  if (kerasures > 0) {
    // The last missing data shard: XOR of parity 0 and the other data shards.
    const s: number[] = []
    for (let si = 0; si < k; si++) s.push(si < max ? si : si + 1)
    dot(w, k, lanes, shardSize, bitmatrix, 0, s, max)
  }
  const data: number[] = []
  for (let si = 0; si < k; si++) data.push(si)
  for (let i = 0; i < m; i++) {
    if ((sources & (1 << (k + i))) === 0) dot(w, k, lanes, shardSize, bitmatrix, kww * i, data, k + i)
  }
}

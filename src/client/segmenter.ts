import { isByteReader, type ByteReader } from '../core/byte-reader.js'
import { InvalidArgumentError } from '../core/errors.js'

export type { ByteReader }

export interface Segment {
  index: number
  data: Buffer
  /** True for the last segment of the stream (bound into its AEAD tag, so truncation is detected). */
  final: boolean
}

export interface SegmentOptions {
  /**
   * The consumer promises to be done with a segment's `data` (it may have copied or
   * encrypted it) by the time it asks for the next segment: the buffer is then
   * refilled, so memory is exactly two segments and no segment is allocated twice.
   * @defaultValue false
   */
  reuse?: boolean
  /** Allocates segment buffers (e.g. in shared memory for a hashing thread). @defaultValue Buffer.allocUnsafeSlow */
  allocate?: (size: number) => Buffer
}

/**
 * Cuts a byte stream into segments of exactly `segmentSize` bytes (the last may be
 * shorter; an empty stream yields one empty final segment). One segment is held
 * back so the last one can be marked final without knowing the size in advance:
 * memory is two segments, whatever the stream's length.
 */
export async function * segment (source: AsyncIterable<Uint8Array> | ByteReader, segmentSize: number, options: SegmentOptions = {}): AsyncGenerator<Segment> {
  if (!Number.isSafeInteger(segmentSize) || segmentSize <= 0) throw new InvalidArgumentError(`Bad segment size ${segmentSize}`)
  if (isByteReader(source)) {
    yield * segmentReader(source, segmentSize, options)
    return
  }
  let index = 0
  const allocate = options.allocate ?? Buffer.allocUnsafeSlow
  let current: Buffer = allocate(segmentSize)
  let filled = 0
  let held: Buffer | undefined
  for await (const input of source) {
    let chunk = Buffer.from(input.buffer, input.byteOffset, input.byteLength)
    while (chunk.length > 0) {
      if (filled === segmentSize) {
        let spare: Buffer | undefined
        if (held !== undefined) {
          yield { index: index++, data: held, final: false }
          // The consumer asked for the next segment: with `reuse` it is done with this one.
          if (options.reuse === true) spare = held
        }
        held = current
        current = spare ?? allocate(segmentSize)
        filled = 0
      }
      const n = Math.min(chunk.length, segmentSize - filled)
      chunk.copy(current, filled, 0, n)
      filled += n
      chunk = chunk.subarray(n)
    }
  }
  if (filled === 0) {
    yield { index, data: held ?? Buffer.alloc(0), final: true }
    return
  }
  if (held !== undefined) yield { index: index++, data: held, final: false }
  yield { index, data: current.subarray(0, filled), final: true }
}

/** segment() over a ByteReader: each segment buffer is filled by reads straight into it. */
async function * segmentReader (reader: ByteReader, segmentSize: number, options: SegmentOptions): AsyncGenerator<Segment> {
  const allocate = options.allocate ?? Buffer.allocUnsafeSlow
  let index = 0
  let held: Buffer | undefined
  let spare: Buffer | undefined
  for (;;) {
    const current = spare ?? allocate(segmentSize)
    spare = undefined
    let filled = 0
    while (filled < segmentSize) {
      const n = await reader.readInto(current.subarray(filled, segmentSize))
      if (!Number.isSafeInteger(n) || n < 0 || n > segmentSize - filled) throw new InvalidArgumentError(`Reader returned a bad byte count ${n}`)
      if (n === 0) break
      filled += n
    }
    if (filled < segmentSize) {
      if (held !== undefined) {
        // Only an empty tail leaves the held segment as the last one.
        yield { index: index++, data: held, final: filled === 0 }
        if (filled === 0) return
      }
      yield { index, data: current.subarray(0, filled), final: true }
      return
    }
    if (held !== undefined) {
      yield { index: index++, data: held, final: false }
      // The consumer asked for the next segment: with `reuse` it is done with this one.
      if (options.reuse === true) spare = held
    }
    held = current
  }
}

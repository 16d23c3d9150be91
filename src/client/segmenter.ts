import { InvalidArgumentError } from '../core/errors.js'

export interface Segment {
  index: number
  data: Buffer
  /** True for the last segment of the stream (bound into its AEAD tag, so truncation is detected). */
  final: boolean
}

/**
 * Cuts a byte stream into segments of exactly `segmentSize` bytes (the last may be
 * shorter; an empty stream yields one empty final segment). One segment is held
 * back so the last one can be marked final without knowing the size in advance:
 * memory is two segments, whatever the stream's length.
 */
export async function * segment (source: AsyncIterable<Uint8Array>, segmentSize: number): AsyncGenerator<Segment> {
  if (!Number.isSafeInteger(segmentSize) || segmentSize <= 0) throw new InvalidArgumentError(`Bad segment size ${segmentSize}`)
  let index = 0
  let current = Buffer.allocUnsafe(segmentSize)
  let filled = 0
  let held: Buffer | undefined
  for await (const input of source) {
    let chunk = Buffer.from(input.buffer, input.byteOffset, input.byteLength)
    while (chunk.length > 0) {
      if (filled === segmentSize) {
        if (held !== undefined) yield { index: index++, data: held, final: false }
        held = current
        current = Buffer.allocUnsafe(segmentSize)
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

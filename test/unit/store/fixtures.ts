import { randomBytes } from 'node:crypto'
import { setImmediate as tick } from 'node:timers/promises'
import type { PieceId } from '../../../src/core/ids.js'
import { pieceIdOf } from '../../../src/crypto/merkle.js'

/** Test pieces and bodies shared by the store tests. */

export interface TestPiece { id: PieceId, data: Buffer }

export function makePiece (size: number): TestPiece {
  const data = randomBytes(size)
  return { id: pieceIdOf(data), data }
}

export function makeOwner (): string {
  return randomBytes(32).toString('hex')
}

/** A body that records how much of it was pulled, so tests can prove a body was (not) consumed. */
export interface TrackedBody extends AsyncIterable<Uint8Array> {
  /** Chunks handed out so far. */
  pulled: number
  /** True once the consumer has read past the last chunk. */
  finished: boolean
}

export function trackedBody (data: Uint8Array, chunkSize = 7000): TrackedBody {
  const body: TrackedBody = {
    pulled: 0,
    finished: false,
    async * [Symbol.asyncIterator] () {
      for (let at = 0; at < data.length; at += chunkSize) {
        await tick()
        body.pulled++
        yield data.subarray(at, Math.min(at + chunkSize, data.length))
      }
      body.finished = true
    }
  }
  return body
}

/** A body that yields `data` and then never ends (a stalled peer). */
export async function * stalledBody (data: Uint8Array, onStall?: () => void): AsyncGenerator<Uint8Array> {
  yield data
  onStall?.()
  await new Promise<never>(() => {})
}

export async function collect (stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk)
  return Buffer.concat(chunks)
}

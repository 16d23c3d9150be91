import { raceSignal, throwIfAborted } from '../core/abort.js'
import { InvalidArgumentError } from '../core/errors.js'
import type { PieceId } from '../core/ids.js'

/**
 * Pulls a put body chunk by chunk, awaiting `sink` before pulling the next one: that
 * await is the backpressure (the sender's stream is only read as fast as we write).
 * Enforces the announced size as bytes arrive, so a sender that lies about the size
 * is stopped at the first extra byte instead of filling the disk. Abort interrupts even
 * a body that is stuck waiting for data.
 */
export async function pullBody (
  id: PieceId,
  size: number,
  body: AsyncIterable<Uint8Array>,
  signal: AbortSignal | undefined,
  sink: (chunk: Uint8Array) => Promise<void> | void
): Promise<void> {
  let received = 0
  await iterate(body, signal, async chunk => {
    received += chunk.byteLength
    if (received > size) {
      throw new InvalidArgumentError('Piece body is longer than its announced size', { details: { id, size, receivedAtLeast: received } })
    }
    await sink(chunk)
  })
  if (received !== size) {
    throw new InvalidArgumentError('Piece body is shorter than its announced size', { details: { id, size, received } })
  }
}

/** Consumes and discards a body (a put of a piece we already hold), still honouring abort. */
export async function drainBody (body: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined): Promise<void> {
  await iterate(body, signal, () => {})
}

async function iterate (
  body: AsyncIterable<Uint8Array>,
  signal: AbortSignal | undefined,
  onChunk: (chunk: Uint8Array) => Promise<void> | void
): Promise<void> {
  throwIfAborted(signal)
  const iterator = body[Symbol.asyncIterator]()
  let done = false
  try {
    while (true) {
      const next = await raceSignal(iterator.next(), signal)
      if (next.done === true) { done = true; return }
      if (!(next.value instanceof Uint8Array)) {
        throw new InvalidArgumentError('Piece body must yield bytes', { details: { got: typeof next.value } })
      }
      await onChunk(next.value)
      throwIfAborted(signal)
    }
  } finally {
    if (!done && typeof iterator.return === 'function') {
      // Not awaited: an async generator parked in a pending next() would only answer
      // return() after that next() settles, which for a stalled peer may be never.
      iterator.return().catch(() => {})
    }
  }
}

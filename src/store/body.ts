import { raceSignal, throwIfAborted } from '../core/abort.js'
import { isByteReader, type ByteReader } from '../core/byte-reader.js'
import { InvalidArgumentError } from '../core/errors.js'
import type { PieceId } from '../core/ids.js'

/**
 * A piece body: chunks of a stream, or a ByteReader that reads into the store's own buffer
 * (a node's socket reader: no chunk allocated per read; see FrameReader.bodyReader).
 */
export type PieceBody = AsyncIterable<Uint8Array> | ByteReader

/**
 * Pulls exactly `size` bytes of a body into the store's buffer: `space()` is where the next bytes
 * go (never empty), `filled(n)` is told how many landed there and is awaited before the next read
 * (the backpressure). A ByteReader reads into `space()` directly; stream chunks are copied in.
 * A body shorter or longer than `size` is refused, a longer one at its first extra byte.
 */
export async function pullBodyInto (
  id: PieceId,
  size: number,
  body: PieceBody,
  signal: AbortSignal | undefined,
  space: () => Uint8Array,
  filled: (bytes: number) => Promise<void> | void
): Promise<void> {
  if (!isByteReader(body)) {
    await pullBody(id, size, body, signal, async chunk => {
      for (let at = 0; at < chunk.byteLength;) {
        const target = space()
        const n = Math.min(target.length, chunk.byteLength - at)
        target.set(chunk.subarray(at, at + n))
        at += n
        await filled(n)
      }
    })
    return
  }
  throwIfAborted(signal)
  let received = 0
  while (received < size) {
    const target = space()
    const want = Math.min(target.length, size - received)
    const n = await raceSignal(body.readInto(target.subarray(0, want)), signal)
    if (n === 0) throw new InvalidArgumentError('Piece body is shorter than its announced size', { details: { id, size, received } })
    if (!Number.isSafeInteger(n) || n < 0 || n > want) throw new InvalidArgumentError(`Piece body reader returned a bad byte count ${n}`, { details: { id } })
    received += n
    await filled(n)
  }
}

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
export async function drainBody (body: PieceBody, signal: AbortSignal | undefined): Promise<void> {
  if (!isByteReader(body)) {
    await iterate(body, signal, () => {})
    return
  }
  throwIfAborted(signal)
  const scratch = Buffer.allocUnsafe(64 * 1024)
  while (await raceSignal(body.readInto(scratch), signal) > 0) { /* discard */ }
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

import type { Socket } from 'node:net'
import { abortReason } from '../core/abort.js'
import { ConnectionClosedError, MalformedFrameError } from '../core/errors.js'
import { FrameDecoder, type FrameHead, type FrameLimits } from '../protocol/index.js'

/**
 * Pull-based frame reader over a socket. Bytes are only read from the socket
 * when the consumer asks for the next event, so a slow consumer (a disk write,
 * a full client buffer) pauses the sender through TCP backpressure.
 */
export class FrameReader {
  private readonly decoder: FrameDecoder
  private readonly source: AsyncIterator<Buffer>
  private readonly socket: Socket

  constructor (socket: Socket, limits: Partial<FrameLimits> = {}) {
    this.socket = socket
    this.decoder = new FrameDecoder(limits)
    // The iterator is driven by hand and never returned early: returning would destroy the socket.
    this.source = socket[Symbol.asyncIterator]()
  }

  /** Between frames with nothing buffered: the peer may close here cleanly. */
  get atBoundary (): boolean { return this.decoder.atBoundary }

  /** Between frames (the next may be partly buffered): the connection is still in step. */
  get inSync (): boolean { return this.decoder.inSync }

  /**
   * Reads the next frame head. Resolves undefined when the peer closed cleanly
   * between frames; rejects if it closed mid-frame.
   */
  async readFrame (signal?: AbortSignal): Promise<FrameHead | undefined> {
    for (;;) {
      const event = this.decoder.read()
      if (event !== undefined) {
        if (event.kind !== 'frame') throw new MalformedFrameError('Expected a frame, got body bytes')
        return event.frame
      }
      const more = await this.pull(signal)
      if (!more) {
        if (this.decoder.atBoundary) return undefined
        throw new ConnectionClosedError('Connection closed in the middle of a frame')
      }
    }
  }

  /** Yields exactly the body of the frame just read (bodyLength bytes). */
  async * body (bodyLength: number, signal?: AbortSignal): AsyncGenerator<Buffer> {
    let remaining = bodyLength
    while (remaining > 0) {
      const event = this.decoder.read()
      if (event === undefined) {
        if (!await this.pull(signal)) throw new ConnectionClosedError('Connection closed in the middle of a body')
        continue
      }
      if (event.kind !== 'body') throw new MalformedFrameError('Expected body bytes')
      remaining -= event.chunk.length
      yield event.chunk
    }
  }

  /** Reads and discards a body (to keep the connection in sync after refusing a request). */
  async skip (bodyLength: number, signal?: AbortSignal): Promise<void> {
    for await (const _chunk of this.body(bodyLength, signal)) { /* discard */ }
  }

  /** Collects a (small, already bounded) body into one buffer. */
  async collect (bodyLength: number, signal?: AbortSignal): Promise<Buffer> {
    const parts: Buffer[] = []
    for await (const chunk of this.body(bodyLength, signal)) parts.push(chunk)
    return parts.length === 1 ? parts[0] as Buffer : Buffer.concat(parts, bodyLength)
  }

  /**
   * Reads a body straight into `target` (at least bodyLength bytes) and returns the filled
   * part: one copy out of the socket's chunks and no joining allocation. Nothing is written
   * into `target` after this settles.
   */
  async collectInto (bodyLength: number, target: Uint8Array, signal?: AbortSignal): Promise<Buffer> {
    if (target.length < bodyLength) throw new RangeError(`Target holds ${target.length} bytes, body is ${bodyLength}`)
    let at = 0
    for await (const chunk of this.body(bodyLength, signal)) {
      target.set(chunk, at)
      at += chunk.length
    }
    return Buffer.from(target.buffer, target.byteOffset, bodyLength)
  }

  private async pull (signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted === true) throw abortReason(signal)
    this.watch(signal)
    this.pulling = true
    try {
      const { value, done } = await this.source.next()
      if (done === true) return false
      this.decoder.push(value)
      return true
    } catch (err) {
      // Re-read: the signal may have fired while we awaited (TS narrowed it to false above).
      if ((signal as AbortSignal | undefined)?.aborted === true) throw abortReason(signal as AbortSignal)
      throw new ConnectionClosedError(`Connection failed: ${(err as Error).message}`, { cause: err })
    } finally {
      this.pulling = false
    }
  }

  private pulling = false
  private watched: AbortSignal | undefined
  private onAbort: (() => void) | undefined

  /**
   * Aborting a read mid-stream leaves framing unknown: the only safe response is to drop
   * the connection. The listener that does it is attached once per signal, not per chunk
   * (adding and removing an abort listener for every 64 KiB read was measurable on a busy
   * node); it moves when a read comes with another signal.
   */
  private watch (signal: AbortSignal | undefined): void {
    if (signal === this.watched) return
    this.unwatch()
    if (signal === undefined) return
    const onAbort = (): void => {
      // A read in progress, or a frame half read, is torn by the abort. A connection resting
      // between frames (its request over, perhaps back in a pool) is left alone: a later
      // read with this signal throws before touching the socket.
      if (this.pulling || !this.decoder.atBoundary) this.socket.destroy(abortReason(signal))
    }
    signal.addEventListener('abort', onAbort, { once: true })
    this.watched = signal
    this.onAbort = onAbort
  }

  /** Detaches the abort listener (the request that owned the signal is over). */
  unwatch (): void {
    if (this.watched !== undefined && this.onAbort !== undefined) this.watched.removeEventListener('abort', this.onAbort)
    this.watched = undefined
    this.onAbort = undefined
  }
}

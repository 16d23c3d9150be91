import type { Socket } from 'node:net'
import { abortReason } from '../core/abort.js'
import type { ByteReader } from '../core/byte-reader.js'
import { ConnectionClosedError, MalformedFrameError } from '../core/errors.js'
import { FrameDecoder, type FrameHead, type FrameLimits } from '../protocol/index.js'

/** Bytes buffered (without a body destination waiting) before an onread socket is paused. */
const ONREAD_HIGH_WATER = 1024 * 1024

/**
 * One read buffer for every socket created with `onReadOptions`: the kernel copies into it and
 * the callback copies out before returning, so no read allocates (see FrameReader).
 */
const sharedReadBuffer = Buffer.allocUnsafeSlow(256 * 1024)

/**
 * Pull-based frame reader over a socket. Bytes are only read from the socket
 * when the consumer asks for the next event, so a slow consumer (a disk write,
 * a full client buffer) pauses the sender through TCP backpressure.
 *
 * Two ways to take bytes from the socket:
 * - 'stream' (any socket, e.g. one a server accepted): its async iterator, a fresh buffer per read;
 * - 'onread' (a socket made by net.connect with `FrameReader.onReadOptions(reader)`): the kernel
 *   reads into one shared buffer and a body being collected into a destination (`collectInto`)
 *   is copied straight there. Nothing is allocated per read, which matters to a client pulling
 *   gigabytes: each 64 KiB read buffer is external memory to V8, and a 1 GiB download used to
 *   trigger some 40–60 full garbage collections through them alone.
 */
export class FrameReader {
  private readonly decoder: FrameDecoder
  private readonly source: AsyncIterator<Buffer> | undefined
  private readonly socket: Socket
  // onread mode: where body bytes go directly, the waiting pull, and how the socket ended.
  private sink: { target: Uint8Array, at: number, end: number } | undefined
  private wake: (() => void) | undefined
  private ended = false
  private failure: Error | undefined

  constructor (socket: Socket, limits: Partial<FrameLimits> = {}, mode: 'stream' | 'onread' = 'stream') {
    this.socket = socket
    this.decoder = new FrameDecoder(limits)
    if (mode === 'stream') {
      // The iterator is driven by hand and never returned early: returning would destroy the socket.
      this.source = socket[Symbol.asyncIterator]()
    } else {
      const stop = (err?: Error): void => {
        this.ended = true
        if (err !== undefined) this.failure ??= err
        this.wake?.()
      }
      socket.on('end', () => { stop() })
      socket.on('error', err => { stop(err) })
      socket.on('close', () => { stop() })
    }
  }

  /**
   * net.connect options that deliver a socket's reads to `target()` (the reader made for that
   * socket, in 'onread' mode) through the shared buffer. The reader is looked up per read
   * because it is created after the socket.
   */
  static onReadOptions (target: () => FrameReader | undefined): { buffer: Buffer, callback: (bytes: number, buffer: Buffer) => boolean } {
    return {
      buffer: sharedReadBuffer,
      callback: (bytes, buffer) => target()?.onRead(bytes, buffer) ?? true
    }
  }

  /** The onread callback: copies the bytes out of the shared buffer (into a waiting body destination first). */
  private onRead (bytes: number, buffer: Buffer): boolean {
    let at = 0
    const sink = this.sink
    if (sink !== undefined && this.decoder.pending === 0) {
      const take = Math.min(bytes, sink.end - sink.at, this.decoder.bodyLeft)
      if (take > 0) {
        buffer.copy(sink.target, sink.at, 0, take)
        sink.at += take
        this.decoder.consumeBody(take)
        at = take
      }
    }
    // The rest (frame heads, bodies nobody collects into a destination yet) is copied: the buffer is reused.
    if (at < bytes) this.decoder.push(Buffer.from(buffer.subarray(at, bytes)))
    this.wake?.()
    // false stops reading until the next pull (TCP backpressure, as in stream mode); for an onread
    // socket net.Socket#resume() starts reading again even though the stream never looked paused.
    this.stopped = this.sink === undefined && this.decoder.pending >= ONREAD_HIGH_WATER
    return !this.stopped
  }

  private stopped = false

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
    await this.fill(target, bodyLength, signal)
    return Buffer.from(target.buffer, target.byteOffset, bodyLength)
  }

  /**
   * The body of the frame just read (bodyLength bytes) as a ByteReader: each readInto fills the
   * caller's buffer (up to what is left of the body) and resolves 0 at the body's end. In onread
   * mode the bytes go from the socket's shared read buffer straight into it: a node receiving a
   * piece allocates nothing per read. Nothing is written into a target after its read settles.
   */
  bodyReader (bodyLength: number, signal?: AbortSignal): ByteReader {
    let remaining = bodyLength
    return {
      readInto: async target => {
        const want = Math.min(target.length, remaining)
        if (want === 0) return 0
        await this.fill(target, want, signal)
        remaining -= want
        return want
      }
    }
  }

  /** Fills target[0, count) with the next `count` body bytes (count ≤ what is left of the body). */
  private async fill (target: Uint8Array, count: number, signal: AbortSignal | undefined): Promise<void> {
    let at = 0
    while (at < count) {
      const event = this.decoder.read(count - at)
      if (event !== undefined) {
        if (event.kind !== 'body') throw new MalformedFrameError('Expected body bytes')
        target.set(event.chunk, at)
        at += event.chunk.length
        continue
      }
      // Nothing buffered: in onread mode the next reads land in `target` directly.
      if (this.source === undefined) this.sink = { target, at, end: count }
      try {
        if (!await this.pull(signal)) throw new ConnectionClosedError('Connection closed in the middle of a body')
      } finally {
        if (this.sink !== undefined) at = this.sink.at
        this.sink = undefined
      }
    }
  }

  private async pull (signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted === true) throw abortReason(signal)
    this.watch(signal)
    this.pulling = true
    try {
      if (this.source === undefined) {
        const more = await this.pullOnRead()
        // Re-read: the signal may have fired while we awaited (TS narrowed it to false above).
        if (!more && (signal as AbortSignal | undefined)?.aborted === true) throw abortReason(signal as AbortSignal)
        return more
      }
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

  /** Waits for the onread callback to deliver bytes (or for the socket to end). */
  private async pullOnRead (): Promise<boolean> {
    const before = this.decoder.pending + (this.sink?.at ?? 0)
    while (this.decoder.pending + (this.sink?.at ?? 0) === before) {
      if (this.failure !== undefined) throw this.failure
      if (this.ended) return false
      if (this.stopped) {
        this.stopped = false
        this.socket.resume()
      }
      await new Promise<void>(resolve => { this.wake = resolve })
      this.wake = undefined
    }
    return true
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

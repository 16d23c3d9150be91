import { decode } from '@msgpack/msgpack'
import { FrameTooLargeError, MalformedFrameError, UnknownOperationError } from '../core/errors.js'
import { DEFAULT_LIMITS, FRAME_MAGIC, PREFIX_SIZE, type FrameHead, type FrameLimits } from './frame.js'
import { isKnownType, opName } from './ops.js'

export type DecoderEvent =
  | { kind: 'frame', frame: FrameHead }
  | { kind: 'body', chunk: Buffer, last: boolean }

/**
 * Incremental, transport-free frame decoder: push bytes in, pull events out.
 * Pure so that it can be fuzzed directly; the socket reader is a thin loop around it.
 *
 * Memory is bounded: at most one prefix plus one header (≤ maxHeaderSize) is
 * buffered; body bytes pass through as the chunks they arrived in. After any
 * error the decoder is poisoned — framing is lost, so the connection must close.
 */
export class FrameDecoder {
  private readonly limits: FrameLimits
  private chunks: Buffer[] = []
  private buffered = 0
  private state: 'prefix' | 'header' | 'body' = 'prefix'
  private type = 0
  private headerLength = 0
  private bodyRemaining = 0
  private failed: Error | undefined

  constructor (limits: Partial<FrameLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits }
  }

  /** Bytes buffered and not yet returned as events. */
  get pending (): number { return this.buffered }

  /** True when the stream is between frames and nothing is buffered (a clean place for the peer to close). */
  get atBoundary (): boolean { return this.inSync && this.buffered === 0 }

  /**
   * True when the decoder expects a new frame and has not failed: the stream is in step,
   * though bytes of the next (pipelined) frame may already be buffered.
   */
  get inSync (): boolean { return this.state === 'prefix' && this.failed === undefined }

  push (chunk: Uint8Array): void {
    if (chunk.length === 0) return
    this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    this.buffered += chunk.length
  }

  /** Body bytes of the current frame not yet returned (0 outside a body). */
  get bodyLeft (): number { return this.state === 'body' ? this.bodyRemaining : 0 }

  /**
   * Accounts for `n` body bytes of the current frame that the caller took straight from the
   * transport (nothing buffered here may precede them): the zero-copy path of a reader that
   * copies a body directly into its destination.
   */
  consumeBody (n: number): void {
    if (this.failed !== undefined) throw this.failed
    if (this.state !== 'body' || this.buffered !== 0 || n > this.bodyRemaining || n < 0) {
      throw new RangeError('consumeBody: not inside a body with nothing buffered')
    }
    this.bodyRemaining -= n
    if (this.bodyRemaining === 0) this.state = 'prefix'
  }

  /** The next event, or undefined when more bytes are needed. Throws a BatchainError on bad input. */
  /** The next event; a body event carries at most `maxBody` bytes (default: whatever is buffered). */
  read (maxBody = Infinity): DecoderEvent | undefined {
    if (this.failed !== undefined) throw this.failed
    try {
      return this.step(maxBody)
    } catch (err) {
      this.failed = err as Error
      throw err
    }
  }

  private step (maxBody: number): DecoderEvent | undefined {
    if (this.state === 'body') {
      if (this.bodyRemaining === 0) { this.state = 'prefix'; return this.step(maxBody) }
      if (this.buffered === 0) return undefined
      const chunk = this.take(Math.min(this.bodyRemaining, (this.chunks[0] as Buffer).length, maxBody))
      this.bodyRemaining -= chunk.length
      const last = this.bodyRemaining === 0
      if (last) this.state = 'prefix'
      return { kind: 'body', chunk, last }
    }
    if (this.state === 'prefix') {
      if (this.buffered >= 1 && this.peekByte() !== FRAME_MAGIC) {
        throw new MalformedFrameError(`Bad frame magic 0x${this.peekByte().toString(16)}`)
      }
      if (this.buffered < PREFIX_SIZE) return undefined
      const prefix = this.take(PREFIX_SIZE)
      this.type = prefix[1] as number
      this.headerLength = prefix.readUInt32BE(2)
      const high = prefix.readUInt32BE(6)
      const low = prefix.readUInt32BE(10)
      if (!isKnownType(this.type)) throw new UnknownOperationError(`Unknown frame type ${opName(this.type)}`)
      if (this.headerLength > this.limits.maxHeaderSize) {
        throw new FrameTooLargeError(`Header of ${this.headerLength} bytes exceeds the limit of ${this.limits.maxHeaderSize}`)
      }
      if (high >= 2 ** 21) throw new FrameTooLargeError('Body length is not a safe integer')
      this.bodyRemaining = high * 2 ** 32 + low
      if (this.bodyRemaining > this.limits.maxBodySize) {
        throw new FrameTooLargeError(`Body of ${this.bodyRemaining} bytes exceeds the limit of ${this.limits.maxBodySize}`)
      }
      this.state = 'header'
    }
    // state === 'header'
    if (this.buffered < this.headerLength) return undefined
    const header = this.decodeHeader(this.take(this.headerLength))
    const frame: FrameHead = { type: this.type, header, bodyLength: this.bodyRemaining }
    this.state = this.bodyRemaining > 0 ? 'body' : 'prefix'
    return { kind: 'frame', frame }
  }

  private decodeHeader (bytes: Buffer): Record<string, unknown> {
    let value: unknown
    try {
      // Every container is bounded, so a hostile header cannot make us allocate more than it is long.
      value = decode(bytes, {
        maxStrLength: this.limits.maxHeaderSize,
        maxBinLength: this.limits.maxHeaderSize,
        maxArrayLength: 4096 * 2,
        maxMapLength: 64,
        maxExtLength: 0
      })
    } catch (err) {
      throw new MalformedFrameError(`Header is not valid MessagePack: ${(err as Error).message}`, { cause: err })
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
      throw new MalformedFrameError('Header must be a map')
    }
    return value as Record<string, unknown>
  }

  private peekByte (): number {
    return (this.chunks[0] as Buffer)[0] as number
  }

  /** Removes and returns exactly n buffered bytes (n ≤ buffered), copying only across chunk borders. */
  private take (n: number): Buffer {
    // A 0-byte header can be taken with nothing buffered (and then fails as MessagePack).
    if (n === 0) return Buffer.alloc(0)
    const first = this.chunks[0] as Buffer
    if (first.length === n) {
      this.chunks.shift()
      this.buffered -= n
      return first
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n)
      this.buffered -= n
      return first.subarray(0, n)
    }
    const out = Buffer.allocUnsafe(n)
    let filled = 0
    while (filled < n) {
      const head = this.chunks[0] as Buffer
      const part = Math.min(head.length, n - filled)
      head.copy(out, filled, 0, part)
      filled += part
      if (part === head.length) this.chunks.shift()
      else this.chunks[0] = head.subarray(part)
    }
    this.buffered -= n
    return out
  }
}

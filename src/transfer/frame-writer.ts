import type { Socket } from 'node:net'
import { abortReason } from '../core/abort.js'
import { ConnectionClosedError } from '../core/errors.js'
import { encodeFrameHead, Op } from '../protocol/index.js'

/** Writes frames to a socket, honouring backpressure ('drain') and aborts. */
export class FrameWriter {
  private readonly socket: Socket

  constructor (socket: Socket) {
    this.socket = socket
  }

  /** Writes a frame head; bodyLength announces how many body bytes will follow through writeBody. */
  async writeFrame (type: number, header: Record<string, unknown>, bodyLength = 0, signal?: AbortSignal): Promise<void> {
    await this.write(encodeFrameHead(type, header, bodyLength), signal)
  }

  /** Writes a whole frame whose body is already in memory (one write, no extra copy). */
  async writeFrameWithBody (type: number, header: Record<string, unknown>, body: Uint8Array, signal?: AbortSignal): Promise<void> {
    const head = encodeFrameHead(type, header, body.length)
    if (body.length === 0) { await this.write(head, signal); return }
    this.socket.cork()
    this.socket.write(head)
    const ok = this.socket.write(body)
    process.nextTick(() => this.socket.uncork())
    if (!ok) await this.drain(signal)
  }

  /**
   * Streams body chunks; pauses whenever the socket's buffer is full. `onFlushed` is called once
   * the socket is done with every chunk (written to the kernel, or the connection gone): chunks
   * still queued in the socket are read from their memory until then, so memory to be reused
   * waits for it. It is called exactly once, also when this throws.
   */
  async writeBody (chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, signal?: AbortSignal, onFlushed?: () => void): Promise<number> {
    let written = 0
    let last: Promise<void> | undefined
    try {
      for await (const chunk of chunks) {
        written += chunk.length
        if (this.socket.destroyed || this.socket.writableEnded) throw new ConnectionClosedError()
        // Write callbacks run in order: the last one says the socket is done with all of them.
        last = onFlushed === undefined ? undefined : new Promise<void>(resolve => { this.socket.write(chunk, () => { resolve() }) })
        if (last === undefined ? !this.socket.write(chunk) : this.socket.writableNeedDrain) await this.drain(signal)
      }
    } finally {
      if (onFlushed !== undefined) {
        if (last === undefined) onFlushed()
        else void last.then(onFlushed)
      }
    }
    return written
  }

  async writeError (code: string, message: string): Promise<void> {
    await this.writeFrame(Op.Error, { code, message: message.slice(0, 1024) })
  }

  async write (chunk: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (this.socket.destroyed || this.socket.writableEnded) throw new ConnectionClosedError()
    if (!this.socket.write(chunk)) await this.drain(signal)
  }

  private async drain (signal?: AbortSignal): Promise<void> {
    if (signal?.aborted === true) throw abortReason(signal)
    const socket = this.socket
    await new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        socket.off('drain', onDrain)
        socket.off('close', onClose)
        signal?.removeEventListener('abort', onAbort)
      }
      const onDrain = (): void => { cleanup(); resolve() }
      // 'close' also covers errors: a socket always closes after it errors.
      const onClose = (): void => { cleanup(); reject(new ConnectionClosedError('Connection closed while writing')) }
      const onAbort = (): void => {
        cleanup()
        socket.destroy()
        reject(abortReason(signal as AbortSignal))
      }
      socket.on('drain', onDrain)
      socket.on('close', onClose)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}

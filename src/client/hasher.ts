import { createHash, type Hash } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import { toPieceId, type PieceId } from '../core/ids.js'
import { encryptSegmentInto } from '../crypto/aead.js'
import { pieceIdOf } from '../crypto/merkle.js'
import type { HashReply, HashRequest } from './hash-worker.js'

/**
 * The crypto thread of a transfer: the whole-file SHA-256 (in order) and, for an upload,
 * each segment's encryption and piece ids. With a worker, that work runs on a second core
 * while the main thread reads, codes and sends (upload) or decrypts and writes (download);
 * it needs the bytes in SharedArrayBuffer memory (`allocate`). Buffers not in shared
 * memory, or no worker, are handled inline.
 */
export class FileHasher {
  private readonly worker: Worker | undefined
  private readonly file: Hash | undefined
  private readonly waiting = new Map<number, { resolve: (r: HashReply) => void, reject: (e: Error) => void }>()
  private nextId = 0
  private failed: Error | undefined

  constructor (useWorker: boolean) {
    // Run from TypeScript source (tests under a loader), the worker's module cannot be
    // loaded (Node 20 does not apply the loader's hooks to workers): hash inline there.
    if (useWorker && import.meta.url.endsWith('.js')) {
      this.worker = new Worker(new URL('./hash-worker.js', import.meta.url))
      this.worker.unref()
      this.worker.on('message', (r: HashReply) => {
        const w = this.waiting.get(r.id)
        this.waiting.delete(r.id)
        if (r.error !== undefined) w?.reject(new Error(`hash worker: ${r.error}`))
        else w?.resolve(r)
      })
      this.worker.on('error', err => { this.fail(err) })
      this.worker.on('exit', code => { this.fail(new Error(`hash worker exited (${code})`)) })
    } else {
      this.file = createHash('sha256')
    }
  }

  /** A buffer the worker can read without a copy. */
  allocate (size: number): Buffer {
    return this.worker === undefined ? Buffer.allocUnsafeSlow(size) : Buffer.from(new SharedArrayBuffer(size))
  }

  /** Adds the next bytes of the file; `data` must stay unchanged until this resolves. */
  async updateFile (data: Buffer): Promise<void> {
    if (this.worker === undefined || !(data.buffer instanceof SharedArrayBuffer)) {
      // Inline only without a worker: mixing inline and worker updates would lose the order.
      if (this.worker !== undefined && data.length > 0) throw new Error('FileHasher.updateFile needs shared memory when a worker is used')
      this.file?.update(data)
      return
    }
    await this.request({ op: 'file', id: 0, sab: data.buffer, offset: data.byteOffset, length: data.length })
  }

  /** Piece ids (Merkle roots) of `count` consecutive shards of `shardSize` bytes at the start of `data`. */
  async pieceIds (data: Buffer, shardSize: number, count: number): Promise<PieceId[]> {
    if (this.worker === undefined || !(data.buffer instanceof SharedArrayBuffer)) {
      return Array.from({ length: count }, (_, j) => pieceIdOf(data.subarray(j * shardSize, (j + 1) * shardSize)))
    }
    const r = await this.request({ op: 'pieces', id: 0, sab: data.buffer, offset: data.byteOffset, shardSize, count })
    return (r.ids ?? []).map(id => toPieceId(id))
  }

  /**
   * encryptSegmentInto on the worker (see hash-worker.ts for why), inline without one or when
   * either buffer is not in shared memory. Both buffers must stay untouched until this resolves.
   */
  async seal (key: Uint8Array, index: number, plaintext: Buffer, final: boolean, out: Buffer): Promise<void> {
    if (this.worker === undefined || !(plaintext.buffer instanceof SharedArrayBuffer) || !(out.buffer instanceof SharedArrayBuffer)) {
      encryptSegmentInto(key, index, plaintext, final, out)
      return
    }
    await this.request({
      op: 'seal',
      id: 0,
      // A copy: structured cloning a view would send its whole backing buffer along.
      key: Uint8Array.from(key),
      index,
      final,
      sab: plaintext.buffer,
      offset: plaintext.byteOffset,
      length: plaintext.length,
      outSab: out.buffer,
      outOffset: out.byteOffset,
      outLength: out.length
    })
  }

  async digestFile (): Promise<string> {
    if (this.worker === undefined) return (this.file as Hash).digest('hex')
    return (await this.request({ op: 'digest', id: 0 })).hex as string
  }

  async close (): Promise<void> {
    const w = this.worker
    if (w === undefined) return
    w.removeAllListeners('exit')
    await w.terminate()
  }

  private async request (m: HashRequest): Promise<HashReply> {
    if (this.failed !== undefined) throw this.failed
    const id = this.nextId++
    return await new Promise<HashReply>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      this.worker?.postMessage({ ...m, id })
    })
  }

  private fail (err: Error): void {
    this.failed ??= err
    for (const w of this.waiting.values()) w.reject(err)
    this.waiting.clear()
  }
}

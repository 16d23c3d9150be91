import { constants as fsConstants } from 'node:fs'
import { open, rm, type FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { randomBytes } from 'node:crypto'

/**
 * Direct I/O (O_DIRECT): bytes go between our buffers and the device without passing
 * through the page cache. Used for piece data on nodes and for downloaded files.
 *
 * Why: a storage node writes each piece once and reads it rarely, usually long after,
 * and a downloaded file is written once by us.
 * Through the page cache every piece byte is copied an extra time into freshly
 * allocated cache pages that only crowd out pages worth keeping; on a VM whose
 * free memory the host reclaims, each such page also costs a first-touch fault in
 * the hypervisor. Measured on the CI machine (2 vCPU, Firecracker): 1.6 GB of
 * 2 MiB pieces cost 2.4 CPU-s buffered and 0.16 CPU-s direct; a 1 GiB upload through
 * 6 nodes spent a fifth of all its CPU in that copy.
 *
 * O_DIRECT wants the memory, the file offset and the length aligned to the device's
 * block size. Node cannot allocate aligned memory, but a WebAssembly.Memory is its own
 * mapping and so starts on a page boundary; `alignedBuffer` relies on that, and
 * `probeDirectIo` checks it (with a real O_DIRECT write) before a store turns direct
 * I/O on. Where the file system refuses O_DIRECT (tmpfs, some overlay and network
 * file systems) or the platform has no such flag, the store simply stays buffered.
 */

/** Offsets, lengths and buffer addresses of direct I/O are multiples of this (the largest common logical block size). */
export const DIRECT_ALIGNMENT = 4096

/** The platform's O_DIRECT flag, or undefined where there is none (macOS, Windows). */
export const O_DIRECT: number | undefined = (fsConstants as { O_DIRECT?: number }).O_DIRECT

const WASM_PAGE = 64 * 1024

/** The one piece of the WebAssembly API we use (the project's TypeScript lib has no wasm types). */
interface WasmMemoryConstructor { new (descriptor: { initial: number, maximum?: number }): { readonly buffer: ArrayBuffer } }
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: WasmMemoryConstructor } }).WebAssembly.Memory

/** Rounds `n` up to a multiple of DIRECT_ALIGNMENT. */
export function alignUp (n: number): number {
  return Math.ceil(n / DIRECT_ALIGNMENT) * DIRECT_ALIGNMENT
}

/** Rounds `n` down to a multiple of DIRECT_ALIGNMENT. */
export function alignDown (n: number): number {
  return Math.floor(n / DIRECT_ALIGNMENT) * DIRECT_ALIGNMENT
}

/**
 * A page-aligned buffer of at least `size` bytes (the whole 64 KiB wasm pages). Freed
 * by the garbage collector like any other buffer; allocate few and reuse them (each is
 * its own mapping).
 */
export function alignedBuffer (size: number): Buffer {
  const pages = Math.max(1, Math.ceil(size / WASM_PAGE))
  return Buffer.from(new WasmMemory({ initial: pages, maximum: pages }).buffer)
}

/**
 * Aligned buffers of one size for reuse: at most `maxIdle` are kept between uses,
 * the rest are left to the garbage collector.
 */
export class AlignedPool {
  private readonly idle: Buffer[] = []

  constructor (readonly size: number, private readonly maxIdle = 8) {
    if (size % DIRECT_ALIGNMENT !== 0) throw new RangeError(`Aligned buffer size must be a multiple of ${DIRECT_ALIGNMENT}`)
  }

  take (): Buffer {
    return this.idle.pop() ?? alignedBuffer(this.size).subarray(0, this.size)
  }

  /** Only buffers no pending I/O still reads or writes. */
  give (buffer: Buffer): void {
    if (this.idle.length < this.maxIdle) this.idle.push(buffer)
  }
}

/**
 * Whether O_DIRECT works for files under `dir` with buffers from `alignedBuffer`: opens a
 * scratch file there with O_DIRECT and writes and reads one aligned block. Any refusal
 * (no flag, EINVAL from tmpfs, a buffer the kernel finds misaligned) means no.
 */
export async function probeDirectIo (dir: string): Promise<boolean> {
  if (O_DIRECT === undefined) return false
  const path = join(dir, `.direct-io-probe.${randomBytes(6).toString('hex')}`)
  let fh: FileHandle | undefined
  try {
    fh = await open(path, fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_EXCL | O_DIRECT, 0o600)
    const block = alignedBuffer(DIRECT_ALIGNMENT).subarray(0, DIRECT_ALIGNMENT).fill(0x5a)
    const { bytesWritten } = await fh.write(block, 0, DIRECT_ALIGNMENT, 0)
    if (bytesWritten !== DIRECT_ALIGNMENT) return false
    block.fill(0)
    const { bytesRead } = await fh.read(block, 0, DIRECT_ALIGNMENT, 0)
    return bytesRead === DIRECT_ALIGNMENT && block[0] === 0x5a && block[DIRECT_ALIGNMENT - 1] === 0x5a
  } catch (err) {
    if (isDirectRefusal(err)) return false
    throw err
  } finally {
    await fh?.close().catch(() => {})
    await rm(path, { force: true }).catch(() => {})
  }
}

/** Errors by which a file system or kernel says "not with O_DIRECT" (as opposed to a broken disk). */
function isDirectRefusal (err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return code === 'EINVAL' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EFAULT'
}

/**
 * A stream over [offset, offset + length) of a file opened with O_DIRECT. It reads
 * aligned windows into one pooled aligned buffer and pushes a copy of each (a consumer
 * may keep chunks as long as it likes, as with any stream), so the direct read and the
 * copy replace the page cache's fill and copy. Closes `fh` when it ends or is destroyed.
 */
export function directReadStream (fh: FileHandle, offset: number, length: number, pool: AlignedPool): Readable {
  const end = offset + length
  let position = alignDown(offset)
  let bounce: Buffer | undefined = pool.take()
  let reading = false
  const release = async (): Promise<void> => {
    // Only when no read into the bounce buffer is in flight (see _read and _destroy).
    if (bounce !== undefined) { pool.give(bounce); bounce = undefined }
    await fh.close()
  }
  return new Readable({
    highWaterMark: pool.size,
    read () {
      if (reading) return
      reading = true
      const buffer = bounce as Buffer
      const want = Math.min(buffer.length, alignUp(end) - position)
      fh.read(buffer, 0, want, position).then(({ bytesRead }) => {
        reading = false
        if (this.destroyed) { release().catch(() => {}); return }
        const from = Math.max(offset, position) - position
        const to = Math.min(bytesRead, end - position)
        if (to <= from) {
          this.destroy(new Error(`Piece file ended at ${position + bytesRead}, before byte ${end}`))
          return
        }
        position += bytesRead
        this.push(Buffer.from(buffer.subarray(from, to)))
        if (position >= end) this.push(null)
      }, (err: unknown) => {
        reading = false
        this.destroy(err as Error)
      })
    },
    destroy (err, callback) {
      // A read still in flight writes into the bounce buffer: it releases it when it lands.
      if (reading) { callback(err); return }
      release().then(() => { callback(err) }, closeErr => { callback(err ?? closeErr as Error) })
    }
  })
}

/**
 * [offset, offset + length) of an O_DIRECT file in one device read, into a buffer from `pool`
 * (which must hold the aligned span), yielded as a single view of it: no copy, and one request
 * where directReadStream makes one per pool-sized chunk (each a round trip to the device, and on
 * a VM an exit to the host). The file is closed once read (or on destroy). The buffer goes back to
 * the pool on `release()`, which the caller makes once nothing reads the view any more; a
 * release before the read has landed waits for it.
 */
export function directReadWhole (fh: FileHandle, offset: number, length: number, pool: AlignedPool): { stream: Readable, release: () => void } {
  const start = alignDown(offset)
  const span = alignUp(offset + length) - start
  if (span > pool.size) throw new RangeError(`A whole read of ${span} bytes does not fit the pool's ${pool.size}-byte buffers`)
  const buffer = pool.take()
  let landed = false
  let released = false
  let given = false
  const give = (): void => {
    if (given || !landed || !released) return
    given = true
    pool.give(buffer)
  }
  const read = fh.read(buffer, 0, span, start).finally(() => {
    landed = true
    give()
    fh.close().catch(() => {})
  })
  read.catch(() => {})
  let started = false
  const stream = new Readable({
    highWaterMark: 1,
    read () {
      if (started) return
      started = true
      read.then(({ bytesRead }) => {
        if (this.destroyed) return
        if (start + bytesRead < offset + length) {
          this.destroy(new Error(`Piece file ended at ${start + bytesRead}, before byte ${offset + length}`))
          return
        }
        this.push(buffer.subarray(offset - start, offset - start + length))
        this.push(null)
      }, (err: unknown) => { this.destroy(err as Error) })
    }
  })
  return { stream, release: () => { released = true; give() } }
}

export interface DirectFileOptions {
  /** Bytes gathered per device write (rounded up to the alignment). @defaultValue 4 MiB */
  batchSize?: number
  /** File mode when created. @defaultValue 0o600 */
  mode?: number
}

/**
 * Creates `path` (which must not exist) and returns a writable stream into it that uses
 * O_DIRECT when the directory's file system takes it, or an ordinary file stream when it
 * does not. `direct` says which one it is. Chunks are copied into an aligned batch buffer,
 * so a chunk's buffer is free again as soon as its write callback runs; the last,
 * partial block is padded with zeros and the file cut back to its length on end.
 */
export async function createFileOutput (path: string, options: DirectFileOptions = {}): Promise<{ stream: Writable, direct: boolean }> {
  const mode = options.mode ?? 0o600
  if (O_DIRECT !== undefined && await probeDirectIo(dirname(path))) {
    const fh = await open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | O_DIRECT, mode)
    return { stream: new DirectFileWriter(fh, alignUp(options.batchSize ?? 4 * 1024 * 1024)), direct: true }
  }
  const fh = await open(path, 'wx', mode)
  return { stream: fh.createWriteStream({ highWaterMark: options.batchSize ?? 4 * 1024 * 1024 }), direct: false }
}

/** The O_DIRECT writer of createFileOutput. */
class DirectFileWriter extends Writable {
  private readonly batch: Buffer
  private staged = 0
  private position = 0

  constructor (private readonly fh: FileHandle, batchSize: number) {
    super({ highWaterMark: batchSize })
    this.batch = alignedBuffer(batchSize).subarray(0, batchSize)
  }

  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.append(chunk).then(() => { callback() }, callback)
  }

  override _final (callback: (error?: Error | null) => void): void {
    const finish = async (): Promise<void> => {
      if (this.staged > 0) {
        const length = this.position + this.staged
        this.batch.fill(0, this.staged, alignUp(this.staged))
        await this.writeBatch(alignUp(this.staged))
        await this.fh.truncate(length)
      }
      await this.fh.close()
    }
    finish().then(() => { callback() }, callback)
  }

  override _destroy (error: Error | null, callback: (error?: Error | null) => void): void {
    // Closing twice (after _final) only rejects, which is not this stream's error.
    this.fh.close().catch(() => {}).finally(() => { callback(error) })
  }

  private async append (chunk: Buffer): Promise<void> {
    let at = 0
    while (at < chunk.length) {
      const n = Math.min(chunk.length - at, this.batch.length - this.staged)
      chunk.copy(this.batch, this.staged, at, at + n)
      this.staged += n
      at += n
      if (this.staged === this.batch.length) await this.writeBatch(this.staged)
    }
  }

  private async writeBatch (length: number): Promise<void> {
    let done = 0
    while (done < length) {
      const { bytesWritten } = await this.fh.write(this.batch, done, length - done, this.position + done)
      if (bytesWritten === 0) throw new Error('Direct write made no progress')
      done += bytesWritten
    }
    this.position += this.staged
    this.staged = 0
  }
}

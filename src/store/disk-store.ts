import { constants as fsConstants } from 'node:fs'
import { mkdir, open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { abortReason, throwIfAborted, type AbortOptions } from '../core/abort.js'
import { LEAF_SIZE } from '../core/constants.js'
import { InvalidArgumentError, NotOwnerError, PieceHashMismatchError, PieceNotFoundError, StoreError } from '../core/errors.js'
import { toPieceId, type PieceId } from '../core/ids.js'
import { silentLogger, type Logger } from '../core/logger.js'
import { leafLength, MerkleHasher, MerkleTree } from '../crypto/merkle.js'
import { drainBody, pullBodyInto, type PieceBody } from './body.js'
import { Capacity } from './capacity.js'
import { AlignedPool, alignDown, alignUp, DIRECT_ALIGNMENT, directReadStream, directReadWhole, O_DIRECT, probeDirectIo } from '../core/direct-io.js'
import { DiskLayout, fsyncDir, isNotFound, readFully, removeQuietly, storeFsError, writeFileAtomic, writeFileDurably, writeFully } from './disk-fs.js'
import { recoverStore, removePieceFiles } from './disk-recovery.js'
import { lockDir, type DirLock } from './dir-lock.js'
import { KeyedMutex } from './keyed-mutex.js'
import { decodeMeta, encodeMeta, type StoredMeta } from './meta-format.js'
import type { AuditProof, GetOptions, PieceMeta, PieceReadResult, PieceStore, PutOptions, StoreStats } from './types.js'
import { checkAuditIndices, checkPieceSize, resolveRange, toOwner, withOwner } from './validate.js'

/**
 * The piece store of a BatNode, on a local file system.
 *
 * Layout under `dir`:
 *   pieces/<id[0..2]>/<id>        the piece bytes, nothing else (so ranges map 1:1 to file offsets)
 *   pieces/<id[0..2]>/<id>.meta   size, storedAt, owners, leaf hashes (format: meta-format.ts)
 *   tmp/                          files being written; anything here at open is a crash leftover
 *   LOCK                          pid of the process that has the store open
 *
 * Put, in this order (a crash at any step leaves no piece or a complete valid one):
 *   1. reserve the size; stream the body into tmp/<id>.<rand>.data, hashing leaves as it goes
 *   2. check byte count and Merkle root — a bad piece never leaves tmp/
 *   3. fsync the data and, at the same time, write tmp/<id>.<rand>.meta and fsync it
 *      (both are temp files: neither is visible until step 4/5, so their order does not matter;
 *      what matters is that both are durable before the first rename)
 *   4. rename the data into pieces/xx/<id>, then the metadata into pieces/xx/<id>.meta
 *   5. fsync pieces/xx    ← commit point: both renames durable; only now is the put acknowledged
 *   6. index the piece, count it as used, release the reservation
 * A crash before 5 can leave either file without the other (nothing orders the two renames on
 * disk): open-time recovery removes both kinds of orphan, and the piece was never acknowledged.
 * One directory fsync per put, not one per rename.
 * Owner changes rewrite the metadata the same way (temp, fsync, rename over, fsync dir).
 * Delete: unlink metadata (un-commit), unlink data, fsync the directory.
 * Open (disk-recovery.ts) empties tmp/, drops pieces without valid metadata or of the
 * wrong length, and recomputes `used` from what is there.
 *
 * A `LOCK` file (dir-lock.ts) keeps a second store off the same directory.
 *
 * Reads take no lock: renames are atomic and an open file survives unlink, so a reader
 * sees the old or the new state, never a torn one.
 *
 * Piece data is written and served with O_DIRECT where the file system allows it
 * (direct-io.ts says why): staging batches are aligned buffers, the last one is padded to
 * a block and the file truncated back to the piece size before its fsync. Metadata files
 * and audit reads stay buffered (small, and read back soon).
 */

export interface DiskStoreInit {
  /** Directory owned by the store (created if missing). */
  dir: string
  /** Bytes of pieces the node offers. */
  capacity: number
  /** Merkle leaf size; part of the piece id definition (default LEAF_SIZE). */
  leafSize?: number
  /** fsync files and directories at each durability point (default true; false only for tests and benchmarks). */
  fsync?: boolean
  /** Where open-time recovery reports what it removed (default: silent). */
  logger?: Logger
  /**
   * Piece data bypasses the page cache (O_DIRECT, see direct-io.ts): 'auto' (the default)
   * when a probe write in the directory shows the file system supports it, false never.
   */
  directIo?: 'auto' | false
}

/** Opens (creating if needed) a disk store, recovering from any crash leftovers first. */
export async function createDiskStore (init: DiskStoreInit, options: AbortOptions = {}): Promise<PieceStore> {
  if (typeof init?.dir !== 'string' || init.dir === '') throw new InvalidArgumentError('Store directory is required')
  const leafSize = init.leafSize ?? LEAF_SIZE
  if (!Number.isSafeInteger(leafSize) || leafSize <= 0 || leafSize > 0xffffffff) {
    throw new InvalidArgumentError('Leaf size must be a positive integer', { details: { leafSize } })
  }
  const capacity = new Capacity(init.capacity)
  const layout = new DiskLayout(init.dir)
  const fsync = init.fsync ?? true
  const logger = init.logger ?? silentLogger()
  throwIfAborted(options.signal)
  let lock: DirLock | undefined
  try {
    await mkdir(init.dir, { recursive: true })
    lock = await lockDir(init.dir)
    const recovered = await recoverStore(layout, leafSize, fsync, logger, options.signal)
    if (recovered.removed.length > 0 || recovered.tempRemoved > 0) {
      logger.warn({ removed: recovered.removed.length, tempRemoved: recovered.tempRemoved }, 'recovered store after an unclean shutdown')
    }
    for (const size of recovered.pieces.values()) capacity.addPiece(size)
    // Staging batches are whole leaves; direct writes also need them block-aligned.
    const direct = init.directIo !== false && stagingSizeFor(leafSize) % DIRECT_ALIGNMENT === 0 && await probeDirectIo(layout.tmp)
    if (direct) logger.debug({ dir: init.dir }, 'piece data uses direct I/O')
    return new DiskPieceStore(layout, capacity, recovered.pieces, leafSize, fsync, lock, direct)
  } catch (err) {
    await lock?.release()
    throw storeFsError(err, 'Cannot open the store directory', { dir: init.dir })
  }
}

/**
 * Bytes gathered before one write to a piece file (rounded down to whole leaves): a default piece
 * (2 MiB and a few bytes, from an 8 MiB segment with 4+2) in one write. With O_DIRECT every write is
 * a device request (on a VM a notification that exits to the host, and a completion interrupt);
 * 512 KiB batches made four per piece, and the upload's six nodes spent ~2 CPU-s per GiB more
 * (upload 175 -> 201 MB/s in the same probe).
 */
const WRITE_BATCH = 2 * 1024 * 1024 + 16 * 1024
/**
 * Bytes per read when serving a piece: a 2 MiB piece goes out in 4 reads and socket writes
 * instead of 32 at the stream default (64 KiB), each of which is a thread-pool round trip,
 * a buffer and a turn of the body loop.
 */
const READ_CHUNK = 512 * 1024
/** Staging buffers kept for reuse between puts; concurrent puts beyond this allocate (and drop) their own. */
const MAX_IDLE_STAGING = 8

/** Whole leaves when leaves are small (the hasher then never copies a partial leaf); just WRITE_BATCH otherwise. */
function stagingSizeFor (leafSize: number): number {
  return leafSize <= WRITE_BATCH ? Math.floor(WRITE_BATCH / leafSize) * leafSize : WRITE_BATCH
}

/** Buffered stores stage in ordinary buffers. */
class PlainPool {
  private readonly idle: Buffer[] = []
  constructor (readonly size: number) {}
  take (): Buffer { return this.idle.pop() ?? Buffer.allocUnsafeSlow(this.size) }
  give (buffer: Buffer): void { if (this.idle.length < MAX_IDLE_STAGING) this.idle.push(buffer) }
}

/** open(2) flags of direct piece files (only used once the probe found O_DIRECT defined and working). */
const CREATE_DIRECT = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | (O_DIRECT ?? 0)
const READ_DIRECT = fsConstants.O_RDONLY | (O_DIRECT ?? 0)

class DiskPieceStore implements PieceStore {
  private readonly locks = new KeyedMutex()
  /** Put bodies are gathered here, a batch per file write (aligned buffers when direct). */
  private readonly staging: PlainPool | AlignedPool
  /** Bounce buffers of direct reads. */
  private readonly readPool: AlignedPool | undefined
  private readonly inFlight = new Set<Promise<unknown>>()
  private closed = false

  constructor (
    private readonly layout: DiskLayout,
    private readonly capacity: Capacity,
    /** Visible pieces and their sizes; the single source of truth for has/list/accounting. */
    private readonly index: Map<PieceId, number>,
    private readonly leafSize: number,
    private readonly fsync: boolean,
    private readonly lock: DirLock,
    /** Piece data files are written and streamed with O_DIRECT. */
    readonly direct: boolean
  ) {
    const stagingSize = stagingSizeFor(leafSize)
    this.staging = direct ? new AlignedPool(stagingSize, MAX_IDLE_STAGING) : new PlainPool(stagingSize)
    this.readPool = direct ? new AlignedPool(READ_CHUNK, MAX_IDLE_STAGING) : undefined
  }

  stats (): StoreStats {
    return this.capacity.stats()
  }

  async has (id: PieceId, options: AbortOptions = {}): Promise<boolean> {
    const pieceId = this.enter(id, options)
    return this.index.has(pieceId)
  }

  async stat (id: PieceId, options: AbortOptions = {}): Promise<PieceMeta | undefined> {
    const pieceId = this.enter(id, options)
    if (!this.index.has(pieceId)) return undefined
    try {
      const meta = await this.readMeta(pieceId)
      return { id: pieceId, size: meta.size, owners: meta.owners, storedAt: meta.storedAt }
    } catch (err) {
      if (err instanceof PieceNotFoundError) return undefined
      throw err
    }
  }

  async put (id: PieceId, size: number, body: PieceBody, options: PutOptions): Promise<{ created: boolean }> {
    const pieceId = this.enter(id, options)
    const pieceSize = checkPieceSize(size, pieceId)
    const owner = toOwner(options?.owner)
    const signal = options.signal
    return await this.track(this.locks.run(pieceId, signal, async () => {
      const existing = this.index.get(pieceId)
      if (existing !== undefined) {
        // Same id means same bytes, so a different size can only be a lying or broken sender.
        if (existing !== pieceSize) {
          throw new InvalidArgumentError('Piece size does not match the stored piece', { details: { id: pieceId, size: pieceSize, stored: existing } })
        }
        await drainBody(body, signal)
        await this.updateOwners(pieceId, owners => withOwner(pieceId, owners, owner), signal)
        return { created: false }
      }
      const release = this.capacity.reserve(pieceId, pieceSize)
      try {
        await this.receive(pieceId, pieceSize, owner, body, signal)
        return { created: true }
      } finally {
        release()
      }
    }))
  }

  async addOwner (id: PieceId, owner: string, options: AbortOptions = {}): Promise<void> {
    const pieceId = this.enter(id, options)
    const key = toOwner(owner)
    await this.track(this.locks.run(pieceId, options.signal, async () => {
      await this.updateOwners(pieceId, owners => withOwner(pieceId, owners, key), options.signal)
    }))
  }

  async removeOwner (id: PieceId, owner: string, options: AbortOptions = {}): Promise<{ deleted: boolean }> {
    const pieceId = this.enter(id, options)
    const key = toOwner(owner)
    return await this.track(this.locks.run(pieceId, options.signal, async () => {
      const meta = await this.readMeta(pieceId)
      if (!meta.owners.includes(key)) throw new NotOwnerError(undefined, { details: { id: pieceId } })
      const owners = meta.owners.filter(o => o !== key)
      if (owners.length > 0) {
        await this.writeMeta(pieceId, { ...meta, owners })
        return { deleted: false }
      }
      await this.delete(pieceId, meta.size)
      return { deleted: true }
    }))
  }

  async get (id: PieceId, options: GetOptions = {}): Promise<PieceReadResult> {
    const pieceId = this.enter(id, options)
    const size = this.sizeOf(pieceId)
    const range = resolveRange(pieceId, size, options.offset, options.length)
    const fh = await this.openData(pieceId, size, this.readPool !== undefined)
    try {
      throwIfAborted(options.signal)
    } catch (err) {
      await fh.close()
      throw err
    }
    if (range.length === 0) {
      await fh.close()
      return { size: 0, stream: Readable.from([], { objectMode: false }) }
    }
    // A piece that fits a staging buffer (any piece of the default sizes) is one device read into
    // a pooled buffer, handed out without a copy (released by the caller once it is written out).
    const whole = this.readPool !== undefined && this.staging instanceof AlignedPool &&
      alignUp(range.offset + range.length) - alignDown(range.offset) <= this.staging.size
        ? directReadWhole(fh, range.offset, range.length, this.staging)
        : undefined
    const stream = whole?.stream ?? (this.readPool !== undefined
      ? directReadStream(fh, range.offset, range.length, this.readPool)
      : fh.createReadStream({ start: range.offset, end: range.offset + range.length - 1, autoClose: true, highWaterMark: READ_CHUNK }))
    const signal = options.signal
    if (signal !== undefined) {
      // The signal covers the whole read, not just the open: a cancelled request stops the disk reads too.
      const onAbort = (): void => { stream.destroy(abortReason(signal)) }
      signal.addEventListener('abort', onAbort, { once: true })
      stream.once('close', () => { signal.removeEventListener('abort', onAbort) })
    }
    return { size: range.length, stream, ...(whole === undefined ? {} : { release: whole.release }) }
  }

  async audit (id: PieceId, indices: readonly number[], options: AbortOptions = {}): Promise<AuditProof> {
    const pieceId = this.enter(id, options)
    const meta = await this.readMeta(pieceId)
    const count = meta.leafHashes.length
    checkAuditIndices(pieceId, indices, count)
    const tree = new MerkleTree(meta.leafHashes)
    if (tree.root.toString('hex') !== pieceId) {
      throw new StoreError('Stored leaf hashes do not match the piece id', { details: { id: pieceId } })
    }
    const fh = await this.openData(pieceId, meta.size)
    const leaves: Buffer[] = []
    try {
      for (const index of indices) {
        throwIfAborted(options.signal)
        // The leaf is read from the piece file, never from the stored hashes, so bytes
        // that rotted on disk fail the auditor's check instead of being vouched for.
        const length = leafLength(meta.size, index, this.leafSize)
        const leaf = await readFully(fh, length, index * this.leafSize)
        if (leaf.length !== length) throw new StoreError('Piece file is shorter than its metadata', { details: { id: pieceId, index } })
        leaves.push(leaf)
      }
    } catch (err) {
      throw storeFsError(err, 'Cannot read piece file', { id: pieceId })
    } finally {
      await fh.close()
    }
    return { leafCount: count, leaves, proofs: indices.map(index => tree.proof(index)) }
  }

  async * list (options: AbortOptions = {}): AsyncIterable<PieceId> {
    this.checkOpen()
    for (const id of [...this.index.keys()]) {
      throwIfAborted(options.signal)
      yield id
    }
  }

  async close (): Promise<void> {
    this.closed = true
    await Promise.allSettled([...this.inFlight])
    await this.lock.release()
  }

  /** Common entry checks: store open, id valid (the path traversal guard), not aborted. */
  private enter (id: PieceId, options: AbortOptions | undefined): PieceId {
    this.checkOpen()
    const pieceId = toPieceId(id)
    throwIfAborted(options?.signal)
    return pieceId
  }

  private checkOpen (): void {
    if (this.closed) throw new StoreError('Store is closed')
  }

  private async track<T> (operation: Promise<T>): Promise<T> {
    this.inFlight.add(operation)
    try {
      return await operation
    } finally {
      this.inFlight.delete(operation)
    }
  }

  private sizeOf (id: PieceId): number {
    const size = this.index.get(id)
    if (size === undefined) throw new PieceNotFoundError(undefined, { details: { id } })
    return size
  }

  /** Steps 1–6 of the put order (see the top of this file). Called with the id locked and the size reserved. */
  private async receive (id: PieceId, size: number, owner: string, body: PieceBody, signal: AbortSignal | undefined): Promise<void> {
    // Only file-system steps are mapped to DiskFullError/StoreError: an error thrown by the
    // body (a reset connection, a timeout) is the sender's and reaches the caller unchanged.
    const fsStep = async <T>(message: string, step: () => Promise<T>): Promise<T> => {
      try {
        return await step()
      } catch (err) {
        throw storeFsError(err, message, { id })
      }
    }
    const tempData = this.layout.tempPath(id, 'data')
    const tempMeta = this.layout.tempPath(id, 'meta')
    const dataPath = this.layout.dataPath(id)
    let dataRenamed = false
    let metaRenamed = false
    let leafHashes: Buffer[]
    try {
      const hasher = new MerkleHasher(this.leafSize)
      const fh = await fsStep('Cannot create temp file', async () => await open(tempData, this.direct ? CREATE_DIRECT : 'wx', 0o666))
      // The body is gathered into a leaf-aligned staging buffer (read straight into it from the
      // socket when the body is a ByteReader) and hashed and written a batch at a time: one file
      // write (a thread-pool round trip) per batch instead of per read, and whole leaves for the hasher.
      const staging = this.staging.take()
      let reusable = false
      try {
        let position = 0
        let staged = 0
        const flush = async (): Promise<void> => {
          if (staged === 0) return
          const batch = staging.subarray(0, staged)
          hasher.update(batch)
          // Only the last batch can be short. A direct write of it is padded to a whole block
          // (zeros, so no stale bytes reach the disk) and the file cut back to size below.
          const write = this.direct ? staging.fill(0, staged, alignUp(staged)).subarray(0, alignUp(staged)) : batch
          await fsStep('Cannot write piece', async () => { await writeFully(fh, write, position) })
          position += staged
          staged = 0
        }
        await pullBodyInto(id, size, body, signal, () => staging.subarray(staged), async n => {
          staged += n
          if (staged === staging.length) await flush()
        })
        await flush()
        if (this.direct && size % DIRECT_ALIGNMENT !== 0) await fsStep('Cannot write piece', async () => { await fh.truncate(size) })
        reusable = true
        const digest = hasher.digest()
        if (digest.root.toString('hex') !== id) {
          throw new PieceHashMismatchError(undefined, { details: { id, actual: digest.root.toString('hex') } })
        }
        leafHashes = digest.leafHashes
        throwIfAborted(signal)
        const meta: StoredMeta = { size, storedAt: Date.now(), leafSize: this.leafSize, owners: [owner], leafHashes }
        // Step 3: both temp files made durable concurrently (two fsyncs in flight, one wait).
        const synced = await Promise.allSettled([
          fsStep('Cannot sync piece', async () => {
            if (this.fsync) await fh.sync()
            await fh.close()
          }),
          fsStep('Cannot commit piece', async () => { await writeFileDurably(tempMeta, encodeMeta(meta), this.fsync) })
        ])
        for (const r of synced) if (r.status === 'rejected') throw r.reason
      } finally {
        // A no-op when already closed; on the error paths it releases the descriptor.
        await fh.close().catch(() => {})
        // Only once no write of it can be in flight (every flush was awaited to completion).
        if (reusable) this.staging.give(staging)
      }
      await fsStep('Cannot commit piece', async () => {
        await rename(tempData, dataPath)
        dataRenamed = true
        await rename(tempMeta, this.layout.metaPath(id))
        metaRenamed = true
        if (this.fsync) await fsyncDir(this.layout.prefixDir(id))
      })
      // Committed.
      this.index.set(id, size)
      this.capacity.addPiece(size)
    } catch (err) {
      await removeQuietly(tempData)
      await removeQuietly(tempMeta)
      // Not committed: metadata first, then data (the delete order, which recovery expects).
      if (metaRenamed && !this.index.has(id)) await removeQuietly(this.layout.metaPath(id))
      if (dataRenamed && !this.index.has(id)) await removeQuietly(dataPath)
      throw err
    }
  }

  private async readMeta (id: PieceId): Promise<StoredMeta> {
    let raw: Buffer
    try {
      raw = await readFile(this.layout.metaPath(id))
    } catch (err) {
      if (isNotFound(err)) {
        this.forget(id)
        throw new PieceNotFoundError(undefined, { details: { id } })
      }
      throw storeFsError(err, 'Cannot read piece metadata', { id })
    }
    return decodeMeta(id, raw, this.leafSize)
  }

  /** Atomically replaces a piece's metadata (temp, fsync, rename over, fsync dir). */
  private async writeMeta (id: PieceId, meta: StoredMeta): Promise<void> {
    try {
      await writeFileAtomic(this.layout.tempPath(id, 'meta'), this.layout.metaPath(id), encodeMeta(meta), this.fsync)
      if (this.fsync) await fsyncDir(this.layout.prefixDir(id))
    } catch (err) {
      throw storeFsError(err, 'Cannot write piece metadata', { id })
    }
  }

  private async updateOwners (id: PieceId, change: (owners: readonly string[]) => string[], signal: AbortSignal | undefined): Promise<void> {
    const meta = await this.readMeta(id)
    const owners = change(meta.owners)
    if (owners.length === meta.owners.length) return
    throwIfAborted(signal)
    await this.writeMeta(id, { ...meta, owners })
  }

  private async delete (id: PieceId, size: number): Promise<void> {
    try {
      await unlink(this.layout.metaPath(id))
    } catch (err) {
      if (!isNotFound(err)) throw storeFsError(err, 'Cannot delete piece', { id })
    }
    // Un-committed: from here the piece is gone whatever happens to the data file.
    if (this.index.delete(id)) this.capacity.removePiece(size)
    await removePieceFiles(this.layout, id).catch(() => {
      // A data file we failed to unlink is an orphan without metadata: the next open removes it.
    })
    if (this.fsync) await fsyncDir(this.layout.prefixDir(id)).catch(() => {})
  }

  /** Drops a piece whose files disappeared behind our back, keeping the accounting honest. */
  private forget (id: PieceId): void {
    const size = this.index.get(id)
    if (size !== undefined && this.index.delete(id)) this.capacity.removePiece(size)
  }

  /** Opens a piece's data file for reading and checks it is what the metadata promises. */
  private async openData (id: PieceId, size: number, direct = false): Promise<FileHandle> {
    let fh: FileHandle
    try {
      fh = await open(this.layout.dataPath(id), direct ? READ_DIRECT : 'r')
    } catch (err) {
      if (isNotFound(err)) {
        this.forget(id)
        throw new PieceNotFoundError(undefined, { details: { id } })
      }
      throw storeFsError(err, 'Cannot open piece file', { id })
    }
    try {
      const st = await fh.stat()
      if (!st.isFile() || st.size !== size) {
        throw new StoreError('Piece file is damaged: its length differs from the metadata', {
          details: { id, expected: size, actual: st.isFile() ? st.size : 'not a file' }
        })
      }
      return fh
    } catch (err) {
      await fh.close().catch(() => {})
      throw storeFsError(err, 'Cannot read piece file', { id })
    }
  }
}

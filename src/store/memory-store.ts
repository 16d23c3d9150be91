import { Readable } from 'node:stream'
import { abortReason, throwIfAborted, type AbortOptions } from '../core/abort.js'
import { LEAF_SIZE } from '../core/constants.js'
import { InvalidArgumentError, NotOwnerError, PieceHashMismatchError, PieceNotFoundError, StoreError } from '../core/errors.js'
import { toPieceId, type PieceId } from '../core/ids.js'
import { leafLength, MerkleHasher, MerkleTree } from '../crypto/merkle.js'
import { drainBody, pullBodyInto, type PieceBody } from './body.js'
import { Capacity } from './capacity.js'
import { KeyedMutex } from './keyed-mutex.js'
import type { AuditProof, GetOptions, PieceMeta, PieceReadResult, PieceStore, PutOptions, StoreStats } from './types.js'
import { checkAuditIndices, checkPieceSize, resolveRange, toOwner, withOwner } from './validate.js'

/** Chunk size of memory-store read streams, like a file read stream's default. */
const READ_CHUNK = 64 * 1024

interface MemoryPiece {
  data: Buffer
  owners: string[]
  storedAt: number
  leafHashes: Buffer[]
}

/**
 * A piece store in memory with the same contract and errors as the disk store (it runs
 * the same compliance suite), for unit tests of other components. It buffers every
 * piece whole by nature: not for production.
 */
export function createMemoryStore (init: { capacity: number }): PieceStore {
  return new MemoryPieceStore(new Capacity(init?.capacity))
}

class MemoryPieceStore implements PieceStore {
  private readonly pieces = new Map<PieceId, MemoryPiece>()
  private readonly locks = new KeyedMutex()
  private closed = false

  constructor (private readonly capacity: Capacity) {}

  stats (): StoreStats {
    return this.capacity.stats()
  }

  async has (id: PieceId, options: AbortOptions = {}): Promise<boolean> {
    return this.pieces.has(this.enter(id, options))
  }

  async stat (id: PieceId, options: AbortOptions = {}): Promise<PieceMeta | undefined> {
    const pieceId = this.enter(id, options)
    const piece = this.pieces.get(pieceId)
    if (piece === undefined) return undefined
    return { id: pieceId, size: piece.data.length, owners: piece.owners.slice(), storedAt: piece.storedAt }
  }

  async put (id: PieceId, size: number, body: PieceBody, options: PutOptions): Promise<{ created: boolean }> {
    const pieceId = this.enter(id, options)
    const pieceSize = checkPieceSize(size, pieceId)
    const owner = toOwner(options?.owner)
    const signal = options.signal
    return await this.locks.run(pieceId, signal, async () => {
      const existing = this.pieces.get(pieceId)
      if (existing !== undefined) {
        if (existing.data.length !== pieceSize) {
          throw new InvalidArgumentError('Piece size does not match the stored piece', { details: { id: pieceId, size: pieceSize, stored: existing.data.length } })
        }
        await drainBody(body, signal)
        existing.owners = withOwner(pieceId, existing.owners, owner)
        return { created: false }
      }
      const release = this.capacity.reserve(pieceId, pieceSize)
      try {
        const data = Buffer.alloc(pieceSize)
        const hasher = new MerkleHasher()
        let position = 0
        await pullBodyInto(pieceId, pieceSize, body, signal, () => data.subarray(position), n => {
          hasher.update(data.subarray(position, position + n))
          position += n
        })
        const { root, leafHashes } = hasher.digest()
        if (root.toString('hex') !== pieceId) {
          throw new PieceHashMismatchError(undefined, { details: { id: pieceId, actual: root.toString('hex') } })
        }
        throwIfAborted(signal)
        this.pieces.set(pieceId, { data, owners: [owner], storedAt: Date.now(), leafHashes })
        this.capacity.addPiece(pieceSize)
        return { created: true }
      } finally {
        release()
      }
    })
  }

  async addOwner (id: PieceId, owner: string, options: AbortOptions = {}): Promise<void> {
    const pieceId = this.enter(id, options)
    const key = toOwner(owner)
    await this.locks.run(pieceId, options.signal, async () => {
      const piece = this.require(pieceId)
      piece.owners = withOwner(pieceId, piece.owners, key)
    })
  }

  async removeOwner (id: PieceId, owner: string, options: AbortOptions = {}): Promise<{ deleted: boolean }> {
    const pieceId = this.enter(id, options)
    const key = toOwner(owner)
    return await this.locks.run(pieceId, options.signal, async () => {
      const piece = this.require(pieceId)
      if (!piece.owners.includes(key)) throw new NotOwnerError(undefined, { details: { id: pieceId } })
      piece.owners = piece.owners.filter(o => o !== key)
      if (piece.owners.length > 0) return { deleted: false }
      this.pieces.delete(pieceId)
      this.capacity.removePiece(piece.data.length)
      return { deleted: true }
    })
  }

  async get (id: PieceId, options: GetOptions = {}): Promise<PieceReadResult> {
    const pieceId = this.enter(id, options)
    const piece = this.require(pieceId)
    const { offset, length } = resolveRange(pieceId, piece.data.length, options.offset, options.length)
    const data = piece.data
    const signal = options.signal
    async function * chunks (): AsyncGenerator<Buffer> {
      for (let at = offset; at < offset + length; at += READ_CHUNK) {
        if (signal?.aborted === true) throw abortReason(signal)
        // Copies, so a consumer that mutates a chunk cannot corrupt the stored piece.
        yield Buffer.from(data.subarray(at, Math.min(at + READ_CHUNK, offset + length)))
      }
    }
    return { size: length, stream: Readable.from(chunks(), { objectMode: false }) }
  }

  async audit (id: PieceId, indices: readonly number[], options: AbortOptions = {}): Promise<AuditProof> {
    const pieceId = this.enter(id, options)
    const piece = this.require(pieceId)
    const count = piece.leafHashes.length
    checkAuditIndices(pieceId, indices, count)
    const tree = new MerkleTree(piece.leafHashes)
    const leaves = indices.map(index => {
      const start = index * LEAF_SIZE
      return Buffer.from(piece.data.subarray(start, start + leafLength(piece.data.length, index)))
    })
    return { leafCount: count, leaves, proofs: indices.map(index => tree.proof(index)) }
  }

  async * list (options: AbortOptions = {}): AsyncIterable<PieceId> {
    this.checkOpen()
    for (const id of [...this.pieces.keys()]) {
      throwIfAborted(options.signal)
      yield id
    }
  }

  async close (): Promise<void> {
    this.closed = true
  }

  private enter (id: PieceId, options: AbortOptions | undefined): PieceId {
    this.checkOpen()
    const pieceId = toPieceId(id)
    throwIfAborted(options?.signal)
    return pieceId
  }

  private checkOpen (): void {
    if (this.closed) throw new StoreError('Store is closed')
  }

  private require (id: PieceId): MemoryPiece {
    const piece = this.pieces.get(id)
    if (piece === undefined) throw new PieceNotFoundError(undefined, { details: { id } })
    return piece
  }
}

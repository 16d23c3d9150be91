import { LEAF_SIZE } from '../core/constants.js'
import { InvalidArgumentError } from '../core/errors.js'
import { pieceIdFromBytes, type PieceId } from '../core/ids.js'
import { blake3, createKeyedBlake3 } from './blake3.js'

/**
 * Merkle tree over fixed-size leaves, hashed with BLAKE3 (see blake3.ts for why not SHA-256):
 * leaf = BLAKE3(data) in hash mode, inner node = BLAKE3 in keyed-hash mode under a fixed key,
 * over left || right. The two modes are separate domains (BLAKE3 sets a different flag and
 * starts from a different state in each), so a leaf can never be passed off as an inner node
 * (the role RFC 6962's 0x00/0x01 prefixes play), without copying every leaf behind a prefix.
 * On a level with an odd count the last node is promoted unchanged (never duplicated, which
 * would allow two trees with one root).
 *
 * A piece's id IS its Merkle root: the address is a hash of the bytes, and an
 * audit proof checks directly against the id, so uploads hash each byte once.
 * An empty piece has one empty leaf.
 */

export const HASH_SIZE = 32

/** The inner-node key: a constant, derived from a label so anyone can rebuild it. */
const NODE_KEY = blake3(Buffer.from('BatChain Merkle inner node, version 2', 'utf8'))
const hashInner = await createKeyedBlake3(NODE_KEY)

export function hashLeaf (data: Uint8Array): Buffer {
  return blake3(data)
}

export function hashNode (left: Uint8Array, right: Uint8Array): Buffer {
  return hashInner(left, right)
}

/** Number of leaves of a piece of `size` bytes (at least one). */
export function leafCount (size: number, leafSize = LEAF_SIZE): number {
  return Math.max(1, Math.ceil(size / leafSize))
}

/** Byte length of leaf `index` of a piece of `size` bytes. */
export function leafLength (size: number, index: number, leafSize = LEAF_SIZE): number {
  return Math.max(0, Math.min(leafSize, size - index * leafSize))
}

/**
 * A whole tree built once from its leaf hashes: the root and any number of proofs
 * for the cost of one build (an audit of 64 leaves must not rebuild the tree 64 times).
 */
export class MerkleTree {
  private readonly levels: Buffer[][]

  constructor (leafHashes: readonly Buffer[]) {
    if (leafHashes.length === 0) throw new InvalidArgumentError('A Merkle tree needs at least one leaf')
    let level = leafHashes.slice()
    this.levels = [level]
    while (level.length > 1) {
      const next: Buffer[] = []
      for (let i = 0; i < level.length; i += 2) {
        const left = level[i] as Buffer
        const right = level[i + 1]
        next.push(right === undefined ? left : hashNode(left, right))
      }
      this.levels.push(next)
      level = next
    }
  }

  get leafCount (): number { return (this.levels[0] as Buffer[]).length }

  get root (): Buffer {
    return (this.levels[this.levels.length - 1] as Buffer[])[0] as Buffer
  }

  /** Sibling hashes from leaf `index` up to the root (promoted levels contribute nothing). */
  proof (index: number): Buffer[] {
    if (!Number.isInteger(index) || index < 0 || index >= this.leafCount) {
      throw new InvalidArgumentError(`Leaf index ${index} out of range (0..${this.leafCount - 1})`)
    }
    const proof: Buffer[] = []
    let i = index
    for (let depth = 0; depth < this.levels.length - 1; depth++) {
      const level = this.levels[depth] as Buffer[]
      const sibling = i % 2 === 0 ? level[i + 1] : level[i - 1]
      if (sibling !== undefined) proof.push(sibling)
      i = Math.floor(i / 2)
    }
    return proof
  }
}

/** Root over leaf hashes (each 32 bytes). */
export function rootFromLeafHashes (leaves: readonly Buffer[]): Buffer {
  return new MerkleTree(leaves).root
}

/** Proof for one leaf; build a MerkleTree instead when proving several. */
export function buildProof (leaves: readonly Buffer[], index: number): Buffer[] {
  return new MerkleTree(leaves).proof(index)
}

/**
 * Checks that `leafData` is leaf `index` of the tree with `root` and `count` leaves.
 * Returns false (never throws) on any mismatch, including proofs of the wrong length.
 */
export function verifyProof (root: Uint8Array, index: number, count: number, leafData: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (!Number.isInteger(index) || !Number.isInteger(count) || index < 0 || index >= count) return false
  let hash: Buffer = hashLeaf(leafData)
  let i = index
  let width = count
  let used = 0
  while (width > 1) {
    const isRight = i % 2 === 1
    const hasSibling = isRight || i + 1 < width
    if (hasSibling) {
      const sibling = proof[used++]
      if (sibling === undefined || sibling.length !== HASH_SIZE) return false
      hash = isRight ? hashNode(sibling, hash) : hashNode(hash, sibling)
    }
    i = Math.floor(i / 2)
    width = Math.ceil(width / 2)
  }
  return used === proof.length && Buffer.compare(hash, Buffer.from(root)) === 0
}

/**
 * Streaming Merkle hasher: feed chunks of any size, get the root and leaf hashes.
 * Memory is 32 bytes per leaf plus at most one partial leaf.
 */
export class MerkleHasher {
  readonly leafSize: number
  private readonly leaves: Buffer[] = []
  private partial: Buffer[] = []
  private partialLength = 0
  private total = 0

  constructor (leafSize = LEAF_SIZE) {
    this.leafSize = leafSize
  }

  get size (): number { return this.total }

  update (chunk: Uint8Array): this {
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    this.total += buf.length
    if (this.partialLength > 0) {
      const need = this.leafSize - this.partialLength
      if (buf.length < need) {
        this.partial.push(Buffer.from(buf))
        this.partialLength += buf.length
        return this
      }
      this.partial.push(buf.subarray(0, need))
      this.leaves.push(hashLeaf(Buffer.concat(this.partial)))
      this.partial = []
      this.partialLength = 0
      buf = buf.subarray(need)
    }
    while (buf.length >= this.leafSize) {
      this.leaves.push(hashLeaf(buf.subarray(0, this.leafSize)))
      buf = buf.subarray(this.leafSize)
    }
    if (buf.length > 0) {
      // Copy: the caller may reuse its buffer after update() returns.
      this.partial.push(Buffer.from(buf))
      this.partialLength = buf.length
    }
    return this
  }

  /** Finishes the tree. The hasher must not be updated afterwards. */
  digest (): { root: Buffer, leafHashes: Buffer[] } {
    if (this.partialLength > 0 || this.leaves.length === 0) {
      this.leaves.push(hashLeaf(Buffer.concat(this.partial)))
      this.partial = []
      this.partialLength = 0
    }
    return { root: rootFromLeafHashes(this.leaves), leafHashes: this.leaves }
  }
}

/** Piece id of a whole buffer. */
export function pieceIdOf (data: Uint8Array, leafSize = LEAF_SIZE): PieceId {
  return pieceIdFromBytes(new MerkleHasher(leafSize).update(data).digest().root)
}

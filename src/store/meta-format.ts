import { createHash } from 'node:crypto'
import { StoreError } from '../core/errors.js'
import type { PieceId } from '../core/ids.js'
import { HASH_SIZE, leafCount } from '../crypto/merkle.js'
import { MAX_OWNERS } from './validate.js'

/**
 * The metadata file of a piece, `pieces/<id[0..2]>/<id>.meta`, binary, integers big-endian:
 *
 * | offset | bytes        | field                                                     |
 * | ------ | ------------ | --------------------------------------------------------- |
 * | 0      | 4            | magic "BCPM" (BatChain Piece Metadata)                    |
 * | 4      | 1            | format version = 1                                        |
 * | 5      | 3            | zero                                                      |
 * | 8      | 8            | piece size in bytes (uint64)                              |
 * | 16     | 8            | storedAt, ms since the epoch (uint64)                     |
 * | 24     | 4            | leaf size (uint32) the leaf hashes were computed with     |
 * | 28     | 4            | leaf count L (uint32) = leafCount(size, leafSize)         |
 * | 32     | 4            | owner count N (uint32, at least 1)                        |
 * | 36     | 32 × N       | owners: raw 32-byte Ed25519 public keys                   |
 * | …      | 32 × L       | leaf hashes H(0x00 ‖ leaf), as computed during the put    |
 * | end-32 | 32           | SHA-256 of every byte before it                           |
 *
 * The trailing checksum turns a torn or bit-rotted metadata file into "no valid
 * metadata" (the piece is dropped at open) instead of wrong owners or bogus proofs.
 * Binary rather than JSON: a 64 MiB piece has 4096 leaf hashes (128 KiB raw, 350 KiB as
 * hex JSON). The leaf hashes live here rather than in a separate file so one atomic
 * rename commits everything about a piece; the price is rewriting them on an owner
 * change, which is rare and small next to the piece itself.
 */

const MAGIC = Buffer.from('BCPM', 'latin1')
const VERSION = 1
const HEADER_SIZE = 36

export interface StoredMeta {
  size: number
  storedAt: number
  leafSize: number
  /** Lowercase hex owners. */
  owners: string[]
  leafHashes: Buffer[]
}

export function encodeMeta (meta: StoredMeta): Buffer {
  const count = meta.leafHashes.length
  const body = Buffer.alloc(HEADER_SIZE + HASH_SIZE * (meta.owners.length + count))
  MAGIC.copy(body, 0)
  body.writeUInt8(VERSION, 4)
  body.writeBigUInt64BE(BigInt(meta.size), 8)
  body.writeBigUInt64BE(BigInt(meta.storedAt), 16)
  body.writeUInt32BE(meta.leafSize, 24)
  body.writeUInt32BE(count, 28)
  body.writeUInt32BE(meta.owners.length, 32)
  let at = HEADER_SIZE
  for (const owner of meta.owners) at += Buffer.from(owner, 'hex').copy(body, at)
  for (const hash of meta.leafHashes) at += hash.copy(body, at)
  return Buffer.concat([body, sha256(body)])
}

/** Parses and checks a metadata file; throws StoreError (with the reason in details) when it is not valid. */
export function decodeMeta (id: PieceId, data: Buffer, expectedLeafSize: number): StoredMeta {
  const fail = (reason: string): never => {
    throw new StoreError(`Piece metadata is corrupt: ${reason}`, { details: { id, reason } })
  }
  if (data.length < HEADER_SIZE + HASH_SIZE) fail('too short')
  const body = data.subarray(0, data.length - HASH_SIZE)
  if (!sha256(body).equals(data.subarray(data.length - HASH_SIZE))) fail('checksum mismatch')
  if (!body.subarray(0, 4).equals(MAGIC)) fail('bad magic')
  if (body.readUInt8(4) !== VERSION) fail(`unknown version ${body.readUInt8(4)}`)
  const size = Number(body.readBigUInt64BE(8))
  const storedAt = Number(body.readBigUInt64BE(16))
  const leafSize = body.readUInt32BE(24)
  const count = body.readUInt32BE(28)
  const ownerCount = body.readUInt32BE(32)
  if (!Number.isSafeInteger(size) || !Number.isSafeInteger(storedAt)) fail('size or time out of range')
  // Leaf size is part of the id's definition: hashes made with another one prove nothing here.
  if (leafSize !== expectedLeafSize) fail(`leaf size ${leafSize} differs from the store's ${expectedLeafSize}`)
  if (count !== leafCount(size, leafSize)) fail('leaf count does not match size')
  if (ownerCount < 1 || ownerCount > MAX_OWNERS) fail('owner count out of range')
  if (body.length !== HEADER_SIZE + HASH_SIZE * (ownerCount + count)) fail('length does not match counts')
  const owners: string[] = []
  let at = HEADER_SIZE
  for (let i = 0; i < ownerCount; i++, at += HASH_SIZE) owners.push(body.toString('hex', at, at + HASH_SIZE))
  const leafHashes: Buffer[] = []
  // Copies, so the (possibly large) file buffer is not pinned by 32-byte views.
  for (let i = 0; i < count; i++, at += HASH_SIZE) leafHashes.push(Buffer.from(body.subarray(at, at + HASH_SIZE)))
  return { size, storedAt, leafSize, owners, leafHashes }
}

function sha256 (data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest()
}

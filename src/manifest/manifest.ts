import type { PieceId } from '../core/ids.js'

/**
 * One piece of a segment: its id (Merkle root) and size (= the segment's shard size), and the
 * owner's put grant: hex Ed25519 signature over putSigningBytes(id, size) under `Manifest.owner`.
 * Nodes accept a piece only with its owner's signature; keeping it here lets a repair worker
 * store a rebuilt piece for its owner (who can still delete it) without the owner's key.
 */
export interface PieceRef { id: PieceId, size: number, grant?: string }

export interface SegmentLayout {
  index: number
  /** Ciphertext + tag bytes of the segment, before erasure padding. */
  cipherSize: number
  shardSize: number
  /** k + m pieces, data shards first then parity, in shard order. */
  pieces: PieceRef[]
}

export interface ManifestParams {
  dataShards: number
  parityShards: number
  /** Plaintext bytes per segment (the last one may be shorter). */
  segmentSize: number
  leafSize: number
  cipher: 'aes-256-gcm'
  erasure: 'reed-solomon'
  /** Piece ids: Merkle roots over `leafSize` leaves with BLAKE3 (crypto/merkle.ts). */
  hash: 'blake3'
}

/**
 * A stored file's manifest. Everything but `sealed` is public and enough to audit
 * and repair without a key; `sealed` holds name, size, hash and data key,
 * encrypted under the read capability's key.
 */
export interface Manifest {
  version: 2
  params: ManifestParams
  segments: SegmentLayout[]
  /** Hex raw Ed25519 public key of the uploader. */
  owner: string
  /** ISO 8601 time of upload. */
  createdAt: string
  /** base64url(nonce || ciphertext || tag) of the SealedInfo. */
  sealed: string
}

/** The private part of a manifest. */
export interface SealedInfo {
  name: string
  size: number
  /** Hex SHA-256 of the whole plaintext file. */
  sha256: string
  /** The 32-byte segment key. */
  dataKey: Buffer
}

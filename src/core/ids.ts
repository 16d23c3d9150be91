import { InvalidPieceIdError } from './errors.js'

/** A piece id: the hex SHA-256 Merkle root of the piece bytes (64 lowercase hex chars). */
export type PieceId = string & { readonly __brand: 'PieceId' }

/** A node id: hex SHA-256 of the node's Ed25519 public key. */
export type NodeId = string & { readonly __brand: 'NodeId' }

const HEX64 = /^[0-9a-f]{64}$/

export function isPieceId (value: unknown): value is PieceId {
  return typeof value === 'string' && HEX64.test(value)
}

/** Validates untrusted input as a piece id; the only way a string becomes a file name on disk. */
export function toPieceId (value: unknown): PieceId {
  if (!isPieceId(value)) throw new InvalidPieceIdError(undefined, { details: { got: typeof value === 'string' ? value.slice(0, 80) : typeof value } })
  return value
}

export function isNodeId (value: unknown): value is NodeId {
  return typeof value === 'string' && HEX64.test(value)
}

export function pieceIdFromBytes (digest: Uint8Array): PieceId {
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).toString('hex') as PieceId
}

import { MAX_AUDIT_LEAVES, MAX_PIECE_SIZE } from '../core/constants.js'
import { InvalidArgumentError, PieceTooLargeError } from '../core/errors.js'
import type { PieceId } from '../core/ids.js'

/**
 * Checks on untrusted arguments shared by every store implementation, so the disk and
 * memory stores reject exactly the same inputs with exactly the same errors.
 */

const OWNER = /^[0-9a-fA-F]{64}$/

/** Owners per piece are bounded so a piece's metadata can never grow without limit. */
export const MAX_OWNERS = 1024

/** Validates an owner (hex raw Ed25519 public key) and returns its canonical lowercase form. */
export function toOwner (value: unknown): string {
  if (typeof value !== 'string' || !OWNER.test(value)) {
    throw new InvalidArgumentError('Owner must be a 64-character hex Ed25519 public key', {
      details: { got: typeof value === 'string' ? value.slice(0, 80) : typeof value }
    })
  }
  return value.toLowerCase()
}

/** Validates the announced size of a piece before anything is reserved or read. */
export function checkPieceSize (size: unknown, id: PieceId): number {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new InvalidArgumentError('Piece size must be a non-negative integer', { details: { id, size: String(size) } })
  }
  if (size > MAX_PIECE_SIZE) {
    throw new PieceTooLargeError(undefined, { details: { id, size, max: MAX_PIECE_SIZE } })
  }
  return size
}

/** Resolves a get range against the piece size; the range must lie inside the piece. */
export function resolveRange (id: PieceId, size: number, offset: unknown, length: unknown): { offset: number, length: number } {
  const start = offset ?? 0
  if (typeof start !== 'number' || !Number.isSafeInteger(start) || start < 0 || start > size) {
    throw new InvalidArgumentError('Range offset is outside the piece', { details: { id, size, offset: String(offset) } })
  }
  const count = length ?? size - start
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0 || start + count > size) {
    throw new InvalidArgumentError('Range length is outside the piece', { details: { id, size, offset: start, length: String(length) } })
  }
  return { offset: start, length: count }
}

/** Validates audit indices against the leaf count (and the protocol's per-request limit). */
export function checkAuditIndices (id: PieceId, indices: readonly number[], count: number): void {
  if (!Array.isArray(indices)) throw new InvalidArgumentError('Audit indices must be an array', { details: { id } })
  if (indices.length > MAX_AUDIT_LEAVES) {
    throw new InvalidArgumentError(`At most ${MAX_AUDIT_LEAVES} leaves per audit`, { details: { id, requested: indices.length } })
  }
  for (const index of indices) {
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= count) {
      throw new InvalidArgumentError(`Leaf index ${String(index)} out of range (0..${count - 1})`, { details: { id, index: String(index), leafCount: count } })
    }
  }
}

/** Returns `owners` with `owner` added (unchanged if present); refuses to grow past MAX_OWNERS. */
export function withOwner (id: PieceId, owners: readonly string[], owner: string): string[] {
  if (owners.includes(owner)) return owners.slice()
  if (owners.length >= MAX_OWNERS) {
    throw new InvalidArgumentError(`A piece can have at most ${MAX_OWNERS} owners`, { details: { id, max: MAX_OWNERS } })
  }
  return [...owners, owner]
}

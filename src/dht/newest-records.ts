import type { NodeId, PieceId } from '../core/ids.js'
import { checkPointer, type PointerRecord } from '../crypto/pointer.js'

/**
 * The records of one piece gathered from several answers: each value checked (shape, expiry,
 * signature), the newest kept per holder. Answers come from other nodes, so anything may arrive:
 * records of other pieces, forged ones, garbage; all of it is dropped here.
 */
export class NewestRecords {
  private readonly newest = new Map<NodeId, PointerRecord>()

  constructor (readonly pieceId: PieceId) {}

  /** Adds an answer's values; returns how many were valid records of this piece. */
  add (values: readonly unknown[], now = Date.now()): number {
    let valid = 0
    for (const value of values) {
      if (!checkPointer(value, now).ok) continue
      const record = value as PointerRecord
      if (record.pieceId !== this.pieceId) continue
      valid++
      const have = this.newest.get(record.holder)
      if (have === undefined || record.issuedAt > have.issuedAt || (record.issuedAt === have.issuedAt && record.expiresAt > have.expiresAt)) {
        this.newest.set(record.holder, record)
      }
    }
    return valid
  }

  get size (): number { return this.newest.size }

  /** One record per holder, newest first. */
  list (): PointerRecord[] {
    return [...this.newest.values()].sort((a, b) => b.issuedAt - a.issuedAt)
  }
}

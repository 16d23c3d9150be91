import type { NodeId, PieceId } from '../core/ids.js'
import { checkPointer, type PointerRecord } from '../crypto/pointer.js'

/**
 * Pointer records this node keeps for others (it is among the nodes closest to their pieces).
 *
 * Per piece, one record per holder: the newest (issuedAt, then expiresAt) wins, so a holder's
 * refresh replaces its previous record instead of piling up. Bounded twice — holders per piece and
 * records in total — so nobody can fill a node's memory with records; expired records are swept.
 * Every record is checked (checkPointer: signature, holder = hash of key, lifetime) before it is
 * kept, and again when loaded from disk.
 */

export interface PointerStoreOptions {
  /** Holders kept per piece. @defaultValue 64 */
  maxHoldersPerPiece?: number
  /** Records kept in total. @defaultValue 200_000 (about 100 MB at worst) */
  maxRecords?: number
}

export type PutOutcome = 'stored' | 'unchanged' | 'stale' | 'full' | 'invalid'

export const DEFAULT_MAX_HOLDERS_PER_PIECE = 64
export const DEFAULT_MAX_POINTER_RECORDS = 200_000

function newer (a: PointerRecord, b: PointerRecord): boolean {
  return a.issuedAt > b.issuedAt || (a.issuedAt === b.issuedAt && a.expiresAt > b.expiresAt)
}

export class PointerStore {
  private readonly pieces = new Map<PieceId, Map<NodeId, PointerRecord>>()
  private count = 0
  readonly maxHoldersPerPiece: number
  readonly maxRecords: number
  /** Called after every change (persistence hooks here). */
  onChange: (() => void) | undefined

  constructor (options: PointerStoreOptions = {}) {
    this.maxHoldersPerPiece = options.maxHoldersPerPiece ?? DEFAULT_MAX_HOLDERS_PER_PIECE
    this.maxRecords = options.maxRecords ?? DEFAULT_MAX_POINTER_RECORDS
  }

  /** Records held. */
  get size (): number { return this.count }

  /** Checks and keeps one record; says what happened. */
  put (record: unknown, now = Date.now()): PutOutcome {
    if (!checkPointer(record, now).ok) return 'invalid'
    // checkPointer proved the shape; copy only the known fields (nothing else is stored or served).
    const r = record as PointerRecord
    const clean: PointerRecord = { pieceId: r.pieceId, holder: r.holder, publicKey: r.publicKey, issuedAt: r.issuedAt, expiresAt: r.expiresAt, signature: r.signature }
    let holders = this.pieces.get(clean.pieceId)
    const existing = holders?.get(clean.holder)
    if (existing !== undefined) {
      if (existing.signature === clean.signature) return 'unchanged'
      if (!newer(clean, existing)) return 'stale'
      holders!.set(clean.holder, clean)
      this.changed()
      return 'stored'
    }
    if (this.count >= this.maxRecords) {
      this.sweep(now)
      if (this.count >= this.maxRecords) return 'full'
    }
    if (holders === undefined) {
      holders = new Map()
      this.pieces.set(clean.pieceId, holders)
    }
    if (holders.size >= this.maxHoldersPerPiece) {
      // Make room by dropping expired records, then the one that expires first if the new one outlives it.
      for (const [holder, rec] of holders) {
        if (rec.expiresAt <= now) { holders.delete(holder); this.count-- }
      }
      if (holders.size >= this.maxHoldersPerPiece) {
        let first: PointerRecord | undefined
        for (const rec of holders.values()) if (first === undefined || rec.expiresAt < first.expiresAt) first = rec
        if (first === undefined || first.expiresAt >= clean.expiresAt) return 'full'
        holders.delete(first.holder)
        this.count--
      }
    }
    holders.set(clean.holder, clean)
    this.count++
    this.changed()
    return 'stored'
  }

  /** Unexpired records of a piece, newest first. */
  get (pieceId: PieceId, now = Date.now()): PointerRecord[] {
    const holders = this.pieces.get(pieceId)
    if (holders === undefined) return []
    return [...holders.values()].filter(r => r.expiresAt > now).sort((a, b) => b.issuedAt - a.issuedAt)
  }

  /** Drops expired records; returns how many. */
  sweep (now = Date.now()): number {
    let dropped = 0
    for (const [pieceId, holders] of this.pieces) {
      for (const [holder, rec] of holders) {
        if (rec.expiresAt <= now) { holders.delete(holder); dropped++ }
      }
      if (holders.size === 0) this.pieces.delete(pieceId)
    }
    this.count -= dropped
    if (dropped > 0) this.changed()
    return dropped
  }

  /** Every record held (for persistence). */
  all (): PointerRecord[] {
    const out: PointerRecord[] = []
    for (const holders of this.pieces.values()) out.push(...holders.values())
    return out
  }

  /** Loads records (from disk): each is checked again, expired and forged ones are dropped. Returns how many were kept. */
  load (records: readonly unknown[], now = Date.now()): number {
    const onChange = this.onChange
    this.onChange = undefined
    let kept = 0
    try {
      for (const record of records) if (this.put(record, now) === 'stored') kept++
    } finally {
      this.onChange = onChange
    }
    return kept
  }

  private changed (): void {
    this.onChange?.()
  }
}

import type { NodeId, PieceId } from '../core/ids.js'
import { checkPointer, checkPointerUnsigned, preverifyPointers, type PointerRecord } from '../crypto/pointer.js'

/**
 * Pointer records this node keeps for others (it is among the nodes closest to their pieces).
 *
 * Per piece, one record per holder: the newest (issuedAt, then expiresAt) wins, so a holder's
 * refresh replaces its previous record instead of piling up. Bounded twice — holders per piece and
 * records in total — so nobody can fill a node's memory with records; expired records are swept.
 * Every record is checked (checkPointer: signature, holder = hash of key, lifetime) before it is
 * kept or served, and again when loaded from disk. Records that arrive by STORE_POINTERS may be
 * kept before their signature is checked (see put's `lazy`), never served before it.
 */

export interface PointerStoreOptions {
  /** Holders kept per piece. @defaultValue 64 */
  maxHoldersPerPiece?: number
  /** Records kept in total. @defaultValue 200_000 (about 100 MB at worst) */
  maxRecords?: number
}

/** 'accepted': kept, its signature to be checked before it is first served (put's `lazy`). */
export type PutOutcome = 'stored' | 'accepted' | 'unchanged' | 'stale' | 'full' | 'invalid'

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

  /** Records kept whose signature has not been checked yet (put's `lazy`), by identity. */
  private readonly unchecked = new Set<PointerRecord>()

  /**
   * Checks and keeps one record; says what happened.
   *
   * `lazy` (STORE_POINTERS): a record that changes nothing already kept — its holder's first for
   * the piece, with room for it — is kept with its signature unchecked ('accepted'), and checked
   * before it is first served (see servable). A publish then costs each of a piece's R replicas
   * no signature checks on the way in; only the replicas asked for the record check it. A record
   * that would replace or evict one already kept is checked first, lazy or not, so a forgery can
   * neither displace a record nor crowd one out.
   */
  put (record: unknown, now = Date.now(), options: { lazy?: boolean } = {}): PutOutcome {
    const pre = checkPointerUnsigned(record, now)
    if (!pre.ok) return 'invalid'
    let unchecked = options.lazy === true && !pre.verified
    if (!pre.verified && !unchecked && !checkPointer(record, now).ok) return 'invalid'
    /** Before a record changes anything kept, its signature is checked. */
    const checked = (): boolean => {
      if (unchecked && !checkPointer(record, now).ok) return false
      unchecked = false
      return true
    }
    // The shape is proved; copy only the known fields (nothing else is stored or served).
    const r = record as PointerRecord
    const clean: PointerRecord = { pieceId: r.pieceId, holder: r.holder, publicKey: r.publicKey, issuedAt: r.issuedAt, expiresAt: r.expiresAt, signature: r.signature }
    let holders = this.pieces.get(clean.pieceId)
    let existing = holders?.get(clean.holder)
    if (existing !== undefined && existing.signature !== clean.signature && this.unchecked.has(existing)) {
      // Two records of one holder, the kept one unchecked: it is checked now, or a forgery kept
      // first (issued "later") would make the holder's real record look stale.
      if (checkPointer(existing, now).ok) {
        this.unchecked.delete(existing)
      } else {
        this.drop(holders!, existing)
        existing = undefined
      }
    }
    if (existing !== undefined) {
      if (existing.signature === clean.signature) return 'unchanged'
      if (!newer(clean, existing)) return 'stale'
      if (!checked()) return 'invalid'
      holders!.set(clean.holder, clean)
      this.unchecked.delete(existing)
      this.changed()
      return 'stored'
    }
    if (this.count >= this.maxRecords) {
      this.sweep(now)
      if (this.count >= this.maxRecords) return 'full'
    }
    if (holders !== undefined && holders.size >= this.maxHoldersPerPiece) {
      // Make room by dropping expired records, then the one that expires first if the new one outlives it.
      for (const rec of holders.values()) if (rec.expiresAt <= now) this.drop(holders, rec)
      if (holders.size >= this.maxHoldersPerPiece) {
        let first: PointerRecord | undefined
        for (const rec of holders.values()) if (first === undefined || rec.expiresAt < first.expiresAt) first = rec
        if (first === undefined || first.expiresAt >= clean.expiresAt) return 'full'
        if (!checked()) return 'invalid'
        this.drop(holders, first)
      }
    }
    if (holders === undefined) {
      holders = new Map()
      this.pieces.set(clean.pieceId, holders)
    }
    holders.set(clean.holder, clean)
    this.count++
    if (unchecked) this.unchecked.add(clean)
    this.changed()
    return unchecked ? 'accepted' : 'stored'
  }

  /**
   * Whether putting `record` would replace or evict a record already kept (so put checks its
   * signature even when lazy): callers check such records on the thread pool first.
   */
  contested (record: PointerRecord): boolean {
    const holders = this.pieces.get(record.pieceId)
    const existing = holders?.get(record.holder)
    if (existing !== undefined) return existing.signature !== record.signature && (newer(record, existing) || this.unchecked.has(existing))
    // At the holders-per-piece bound a put may evict a record (the total bound only refuses).
    return (holders?.size ?? 0) >= this.maxHoldersPerPiece
  }

  /**
   * The records that may be served, of those given (records of this store): the ones kept
   * unchecked are checked now, on the thread pool, and the forged ones dropped from the store.
   */
  async servable (records: readonly PointerRecord[], now = Date.now()): Promise<PointerRecord[]> {
    const pending = records.filter(r => this.unchecked.has(r))
    if (pending.length === 0) return [...records]
    await preverifyPointers(pending, now)
    const dropped = new Set<PointerRecord>()
    for (const r of pending) {
      if (!this.unchecked.has(r)) continue // checked, replaced or dropped meanwhile
      if (checkPointer(r, now).ok) {
        this.unchecked.delete(r)
        continue
      }
      dropped.add(r)
      const holders = this.pieces.get(r.pieceId)
      if (holders?.get(r.holder) === r) {
        this.drop(holders, r)
        if (holders.size === 0) this.pieces.delete(r.pieceId)
        this.changed()
      }
    }
    return records.filter(r => !dropped.has(r))
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
      for (const rec of holders.values()) {
        if (rec.expiresAt <= now) { this.drop(holders, rec); dropped++ }
      }
      if (holders.size === 0) this.pieces.delete(pieceId)
    }
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

  private drop (holders: Map<NodeId, PointerRecord>, record: PointerRecord): void {
    holders.delete(record.holder)
    this.unchecked.delete(record)
    this.count--
  }

  private changed (): void {
    this.onChange?.()
  }
}

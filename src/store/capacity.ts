import { CapacityExceededError, InvalidArgumentError } from '../core/errors.js'
import type { PieceId } from '../core/ids.js'
import type { StoreStats } from './types.js'

/**
 * In-memory space accounting of a store. `used` counts piece bytes of visible pieces;
 * `reserved` counts bytes promised to puts still streaming, so two puts that each fit
 * alone cannot both be accepted when together they do not. Metadata overhead is not
 * counted: capacity is what the node offers the network, in piece bytes.
 */
export class Capacity {
  readonly capacity: number
  private usedBytes = 0
  private reservedBytes = 0
  private pieceCount = 0

  constructor (capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 0) {
      throw new InvalidArgumentError('Store capacity must be a non-negative integer number of bytes', { details: { capacity } })
    }
    this.capacity = capacity
  }

  get free (): number {
    return Math.max(0, this.capacity - this.usedBytes - this.reservedBytes)
  }

  /**
   * Reserves `size` bytes or throws CapacityExceededError. Returns an idempotent release
   * function so every exit path of a put can call it without double-releasing.
   */
  reserve (id: PieceId, size: number): () => void {
    const free = this.free
    if (size > free) {
      throw new CapacityExceededError(undefined, { details: { id, size, free, capacity: this.capacity } })
    }
    this.reservedBytes += size
    let released = false
    return () => {
      if (released) return
      released = true
      this.reservedBytes -= size
    }
  }

  /** Counts a piece that became visible (at put commit or when found on disk at open). */
  addPiece (size: number): void {
    this.usedBytes += size
    this.pieceCount++
  }

  /** Uncounts a piece that is gone. */
  removePiece (size: number): void {
    this.usedBytes -= size
    this.pieceCount--
  }

  stats (): StoreStats {
    return {
      capacity: this.capacity,
      used: this.usedBytes,
      reserved: this.reservedBytes,
      free: this.free,
      pieces: this.pieceCount
    }
  }
}

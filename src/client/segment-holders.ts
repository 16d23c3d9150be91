import type { AbortOptions } from '../core/abort.js'
import type { PieceId } from '../core/ids.js'
import type { SegmentLayout } from '../manifest/index.js'
import type { Holder, PieceLocator } from './locator.js'

export interface SegmentHoldersOptions {
  /** Segments located per locator call. @defaultValue 8 */
  batchSegments?: number
  /** Batches located ahead of the one in use, so lookups overlap transfers. @defaultValue 1 */
  lookahead?: number
}

/**
 * Holders of a file's pieces, located a batch of segments at a time as the download advances rather
 * than all at once up front: the first bytes flow after one batch's lookups (a DHT lookup per piece
 * adds up for large files), later lookups overlap the transfers, and memory holds only the batches
 * in use — whatever the file size.
 */
export class SegmentHolders {
  private readonly batches = new Map<number, Promise<Map<PieceId, Holder[]>>>()
  private readonly batchSegments: number
  private readonly lookahead: number

  constructor (
    private readonly segments: readonly SegmentLayout[],
    private readonly locator: PieceLocator,
    private readonly abort: AbortOptions,
    options: SegmentHoldersOptions = {}
  ) {
    this.batchSegments = Math.max(1, options.batchSegments ?? 8)
    this.lookahead = Math.max(0, options.lookahead ?? 1)
  }

  /** The holders of segment `index`'s pieces; starts locating the batches after it too. */
  async get (index: number): Promise<Map<PieceId, Holder[]>> {
    const batch = Math.floor(index / this.batchSegments)
    for (let b = batch; b <= batch + this.lookahead; b++) this.start(b)
    // Batches behind the one in use are not needed again (segments are fetched in order).
    for (const b of this.batches.keys()) if (b < batch - 1) this.batches.delete(b)
    return await (this.batches.get(batch) as Promise<Map<PieceId, Holder[]>>)
  }

  private start (batch: number): void {
    const first = batch * this.batchSegments
    if (this.batches.has(batch) || first >= this.segments.length) return
    const ids = this.segments.slice(first, first + this.batchSegments).flatMap(s => s.pieces.map(p => p.id))
    const located = this.locator.locate(ids, this.abort)
    located.catch(() => { /* surfaced by get() */ })
    this.batches.set(batch, located)
  }
}

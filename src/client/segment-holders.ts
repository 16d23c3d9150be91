import type { AbortOptions } from '../core/abort.js'
import type { PieceId } from '../core/ids.js'
import type { SegmentLayout } from '../manifest/index.js'
import type { Holder, PieceLocator } from './locator.js'

export interface SegmentHoldersOptions {
  /** Segments located per locator call. @defaultValue 8 */
  batchSegments?: number
  /** Batches located ahead of the one in use, so lookups overlap transfers. @defaultValue 3 */
  lookahead?: number
  /**
   * Pieces per segment located up front: the first ones (data shards come first), enough for
   * a download that needs k and hedges with one more. The others are located only if a
   * segment asks for them (`all`). @defaultValue every piece
   */
  first?: number
}

/**
 * Holders of a file's pieces, located a batch of segments at a time as the download advances rather
 * than all at once up front: the first bytes flow after one batch's lookups (a DHT lookup per piece
 * adds up for large files), later lookups overlap the transfers, and memory holds only the batches
 * in use — whatever the file size. With `first`, only the pieces a healthy segment needs are looked
 * up: on a DHT each lookup is a round of requests, and a download that finds its data shards never
 * needs the parity's holders.
 */
export class SegmentHolders {
  private readonly batches = new Map<number, Promise<Map<PieceId, Holder[]>>>()
  private readonly batchSegments: number
  private readonly lookahead: number
  private readonly first: number

  constructor (
    private readonly segments: readonly SegmentLayout[],
    private readonly locator: PieceLocator,
    private readonly abort: AbortOptions,
    options: SegmentHoldersOptions = {}
  ) {
    this.batchSegments = Math.max(1, options.batchSegments ?? 8)
    this.lookahead = Math.max(0, options.lookahead ?? 3)
    this.first = Math.max(1, options.first ?? Number.MAX_SAFE_INTEGER)
  }

  /** The holders of segment `index`'s first pieces (every piece without `first`); starts locating the batches after it too. */
  async get (index: number): Promise<Map<PieceId, Holder[]>> {
    const batch = Math.floor(index / this.batchSegments)
    for (let b = batch; b <= batch + this.lookahead; b++) this.start(b)
    // Batches behind the one in use are not needed again (segments are fetched in order).
    for (const b of this.batches.keys()) if (b < batch - 1) this.batches.delete(b)
    return await (this.batches.get(batch) as Promise<Map<PieceId, Holder[]>>)
  }

  /** The holders of every piece of segment `index`: those `get` left out are located now. */
  async all (index: number): Promise<Map<PieceId, Holder[]>> {
    const known = await this.get(index)
    const layout = this.segments[index]
    if (layout === undefined) return known
    const missing = layout.pieces.map(p => p.id).filter(id => !known.has(id))
    if (missing.length === 0) return known
    const found = await this.locator.locate(missing, this.abort)
    return new Map([...known, ...found])
  }

  private start (batch: number): void {
    const first = batch * this.batchSegments
    if (this.batches.has(batch) || first >= this.segments.length) return
    const ids = this.segments.slice(first, first + this.batchSegments).flatMap(s => s.pieces.slice(0, this.first).map(p => p.id))
    // Any holder of a piece will do here: a segment that runs short asks again through all().
    const located = this.locator.locate(ids, { ...this.abort, fast: true })
    located.catch(() => { /* surfaced by get() */ })
    this.batches.set(batch, located)
  }
}

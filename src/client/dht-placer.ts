import { abortReason, type AbortOptions } from '../core/abort.js'
import { AbortError, NotEnoughNodesError, errorCode, errorMessage } from '../core/errors.js'
import type { NodeId, PieceId } from '../core/ids.js'
import type { Logger } from '../core/logger.js'
import { dhtKeyOf } from '../dht/keys.js'
import type { Dht, NodeInfo } from '../dht/types.js'
import type { Contact, PieceClient } from '../transfer/index.js'
import { isExcluded, type PieceToPlace, type PiecePlacer, type PlaceOptions, type PlacedPiece, type PlacementFailure } from './placement.js'

export interface DhtPlacerOptions {
  /**
   * Candidates asked for per piece beyond one per piece of the segment: spares for nodes that
   * fail and for hedged transfers. @defaultValue 3
   */
  spares?: number
  /**
   * Long tail: once half of a segment's pieces are stored, a piece still in flight after
   * `hedgeFactor` × the median time of the finished ones (and at least `hedgeMinMs`) is also sent
   * to a spare node; the first copy to finish is kept, the other cancelled. @defaultValue 3
   */
  hedgeFactor?: number
  /** @defaultValue 250 */
  hedgeMinMs?: number
  /**
   * The first `dataShards` pieces of each segment are the ones downloads read: each goes to the
   * node, among the piece's n closest free candidates, that holds the fewest of this upload's data
   * shards so far (closest first on ties). Otherwise chance decides how many a node serves: with 6
   * nodes and 128 segments one node served ~10% more than its share, and downloads waited on it.
   * @defaultValue 0 (closest free node for every piece)
   */
  dataShards?: number
}

interface Candidate { info: NodeInfo, contact: Contact & { nodeId: NodeId } }

/**
 * Places each segment's pieces on storage nodes found through the DHT: for every piece the nodes
 * closest to its id (with free space, answering INFO), distinct within the segment and spread over
 * distinct zones when nodes carry zone labels. A node that fails is replaced by the next candidate
 * and avoided for the rest of the upload; a straggler is hedged (see DhtPlacerOptions).
 */
export class DhtPlacer implements PiecePlacer {
  readonly failures: PlacementFailure[] = []
  private readonly dead = new Set<NodeId>()
  /** Bytes this upload has put on each node: NodeInfo.free is a snapshot taken before them. */
  private readonly placedBytes = new Map<NodeId, number>()
  private readonly spares: number
  private readonly hedgeFactor: number
  private readonly hedgeMinMs: number
  private readonly dataShards: number
  /** Data shards this upload has placed on each node (see DhtPlacerOptions.dataShards). */
  private readonly dataPlaced = new Map<NodeId, number>()

  constructor (private readonly dht: Dht, private readonly client: PieceClient, private readonly log: Logger, options: DhtPlacerOptions = {}) {
    this.spares = options.spares ?? 3
    this.hedgeFactor = options.hedgeFactor ?? 3
    this.hedgeMinMs = options.hedgeMinMs ?? 250
    this.dataShards = options.dataShards ?? 0
  }

  async place (segmentIndex: number, pieces: readonly PieceToPlace[], options: PlaceOptions = {}): Promise<PlacedPiece[]> {
    const n = pieces.length
    const size = pieces[0]?.data.length ?? 0
    const excludedIds = options.exclude?.nodeIds
    const exclude = excludedIds === undefined || excludedIds.size === 0 ? this.dead : new Set<NodeId>([...this.dead, ...excludedIds as ReadonlySet<NodeId>])
    const lists = await Promise.all(pieces.map(async p => await this.dht.storageNodesNear(dhtKeyOf(p.id), {
      count: n + this.spares,
      exclude,
      minFree: size,
      signal: options.signal
    })))
    const assignment = assign(lists.map(list => list.filter(info => this.hasRoom(info, size)).map(toCandidate).filter(c => !isExcluded(c.contact, options.exclude))),
      { dataShards: this.dataShards, dataLoad: nodeId => this.dataPlaced.get(nodeId) ?? 0 })
    // Counted at assignment (not at completion), so segments placed concurrently see each other.
    for (const a of assignment.slice(0, this.dataShards)) {
      if (a.primary !== undefined) this.dataPlaced.set(a.primary.info.nodeId, (this.dataPlaced.get(a.primary.info.nodeId) ?? 0) + 1)
    }
    const segment = new SegmentPlacement(this, pieces, assignment, options)
    return await segment.run()
  }

  /** Called by SegmentPlacement when a put fails: the node is avoided from now on. */
  markDead (candidate: Candidate, err: unknown, pieceId: PieceId): void {
    this.dead.add(candidate.info.nodeId)
    const node = `${candidate.contact.host}:${candidate.contact.port}`
    this.failures.push({ node, code: errorCode(err), message: errorMessage(err) })
    this.log.warn({ node, nodeId: candidate.info.nodeId.slice(0, 12), piece: pieceId, err: errorMessage(err) }, 'put failed; trying another node')
  }

  isDead (nodeId: NodeId): boolean { return this.dead.has(nodeId) }

  recordPlaced (nodeId: NodeId, bytes: number): void {
    this.placedBytes.set(nodeId, (this.placedBytes.get(nodeId) ?? 0) + bytes)
  }

  async put (candidate: Candidate, piece: PieceToPlace, signal: AbortSignal): Promise<PlacedPiece> {
    const { nodeId, pointer } = await this.client.put(candidate.contact, piece.id, piece.data, piece.grant === undefined ? { signal } : { signal, grant: piece.grant })
    const node = { ...candidate.contact, nodeId }
    return pointer === undefined ? { id: piece.id, node } : { id: piece.id, node, pointer }
  }

  get hedge (): { factor: number, minMs: number } { return { factor: this.hedgeFactor, minMs: this.hedgeMinMs } }

  private hasRoom (info: NodeInfo, size: number): boolean {
    return info.free - (this.placedBytes.get(info.nodeId) ?? 0) >= size
  }
}

function toCandidate (info: NodeInfo): Candidate {
  const piece = info.piece as NonNullable<NodeInfo['piece']>
  return { info, contact: { host: piece.host, port: piece.port, nodeId: info.nodeId } }
}

/**
 * Chooses a node per piece: each piece takes the closest of its own candidates that no earlier
 * piece of the segment took, preferring a zone not yet used; the first `dataShards` pieces take,
 * among their n (= pieces in the segment) closest such candidates, the one with the lowest
 * `dataLoad` (closest first on ties). Returns per piece the chosen candidate first, then the
 * remaining ones (its spares), closest first. Exported for unit tests.
 */
export function assign<C extends { info: Pick<NodeInfo, 'nodeId' | 'zone'> }> (
  lists: ReadonlyArray<readonly C[]>,
  options: { dataShards?: number, dataLoad?: (nodeId: NodeId) => number } = {}
): Array<{ primary: C | undefined, spares: C[] }> {
  const taken = new Set<NodeId>()
  const zones = new Set<string>()
  const load = options.dataLoad
  return lists.map((list, j) => {
    const free = list.filter(c => !taken.has(c.info.nodeId))
    const fresh = free.filter(c => c.info.zone === undefined || !zones.has(c.info.zone))
    const pool = fresh.length > 0 ? fresh : free
    let primary = pool[0]
    if (load !== undefined && j < (options.dataShards ?? 0)) {
      for (const c of pool.slice(1, lists.length)) if (load(c.info.nodeId) < load((primary as C).info.nodeId)) primary = c
    }
    if (primary !== undefined) {
      taken.add(primary.info.nodeId)
      if (primary.info.zone !== undefined) zones.add(primary.info.zone)
    }
    return { primary, spares: list.filter(c => c !== primary) }
  })
}

/** One segment: primaries first, replacements on failure, hedges for stragglers, distinct nodes throughout. */
class SegmentPlacement {
  private readonly used = new Set<NodeId>()
  private readonly zonesUsed = new Map<string, number>()
  private readonly finishedMs: number[] = []
  private readonly started = performance.now()
  private readonly pool: Candidate[]
  private readonly controller = new AbortController()

  constructor (
    private readonly placer: DhtPlacer,
    private readonly pieces: readonly PieceToPlace[],
    private readonly assignment: Array<{ primary: Candidate | undefined, spares: Candidate[] }>,
    private readonly options: AbortOptions
  ) {
    // Every candidate any piece saw, de-duplicated: a piece whose own list runs dry borrows from it.
    const all = new Map<NodeId, Candidate>()
    for (const a of assignment) for (const c of [a.primary, ...a.spares]) if (c !== undefined && !all.has(c.info.nodeId)) all.set(c.info.nodeId, c)
    this.pool = [...all.values()]
    for (const a of assignment) if (a.primary !== undefined) this.take(a.primary)
  }

  async run (): Promise<PlacedPiece[]> {
    const onAbort = (): void => { this.controller.abort(abortReason(this.options.signal as AbortSignal)) }
    this.options.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      return await Promise.all(this.pieces.map(async (piece, j) => await this.placeOne(piece, this.assignment[j] as { primary: Candidate | undefined, spares: Candidate[] })))
    } finally {
      this.options.signal?.removeEventListener('abort', onAbort)
      // A failed segment must not leave puts running on its buffer.
      if (!this.controller.signal.aborted) this.controller.abort(new AbortError('segment placement finished'))
    }
  }

  private take (c: Candidate): void {
    this.used.add(c.info.nodeId)
    if (c.info.zone !== undefined) this.zonesUsed.set(c.info.zone, (this.zonesUsed.get(c.info.zone) ?? 0) + 1)
  }

  /** The next unused, live candidate: the piece's own spares first, then any the segment saw; fresh zones preferred. */
  private next (spares: readonly Candidate[]): Candidate | undefined {
    const usable = [...spares, ...this.pool].filter(c => !this.used.has(c.info.nodeId) && !this.placer.isDead(c.info.nodeId))
    const pick = usable.find(c => c.info.zone === undefined || !this.zonesUsed.has(c.info.zone)) ?? usable[0]
    if (pick !== undefined) this.take(pick)
    return pick
  }

  private async placeOne (piece: PieceToPlace, choice: { primary: Candidate | undefined, spares: Candidate[] }): Promise<PlacedPiece> {
    let current = choice.primary ?? this.next(choice.spares)
    while (current !== undefined) {
      try {
        const placed = await this.hedged(current, piece, choice.spares)
        this.finishedMs.push(performance.now() - this.started)
        this.placer.recordPlaced(placed.node.nodeId, piece.data.length)
        return placed
      } catch (err) {
        if (this.controller.signal.aborted) throw this.options.signal?.aborted === true ? abortReason(this.options.signal) : err
        if (err instanceof HedgeFailed) {
          for (const { candidate, err: e } of err.failures) this.placer.markDead(candidate, e, piece.id)
        } else {
          this.placer.markDead(current, err, piece.id)
        }
        current = this.next(choice.spares)
      }
    }
    throw new NotEnoughNodesError(`No storage node left for a piece of this segment (${this.used.size} tried, ${this.placer.failures.length} failures)`,
      { details: { failures: this.placer.failures.slice(-10) } })
  }

  /**
   * Puts the piece on `primary`; if it straggles (see DhtPlacerOptions), also on a spare. Resolves
   * with the first success; the other transfer is cancelled and awaited, so no socket still reads
   * the piece's buffer when this returns. Rejects with the primary's error, or HedgeFailed when both failed.
   */
  private async hedged (primary: Candidate, piece: PieceToPlace, spares: readonly Candidate[]): Promise<PlacedPiece> {
    const attempts: Array<{ candidate: Candidate, controller: AbortController, promise: Promise<PlacedPiece> }> = []
    const start = (candidate: Candidate): void => {
      const controller = new AbortController()
      const signal = AbortSignal.any([controller.signal, this.controller.signal])
      attempts.push({ candidate, controller, promise: this.placer.put(candidate, piece, signal) })
    }
    start(primary)
    let timer: NodeJS.Timeout | undefined
    const hedge = new Promise<void>(resolve => {
      const check = (): void => {
        // Hedging off (repair): never fire. setTimeout would turn an infinite wait into 1 ms.
        if (!Number.isFinite(this.placer.hedge.factor)) return
        const half = Math.ceil(this.pieces.length / 2)
        if (this.finishedMs.length >= half) {
          const sorted = [...this.finishedMs].sort((a, b) => a - b)
          const median = sorted[Math.floor(sorted.length / 2)] as number
          const wait = Math.max(this.placer.hedge.minMs, median * this.placer.hedge.factor) - (performance.now() - this.started)
          timer = setTimeout(resolve, Math.max(0, wait))
        } else {
          timer = setTimeout(check, this.placer.hedge.minMs)
        }
      }
      check()
    })
    try {
      const failures: Array<{ candidate: Candidate, err: unknown }> = []
      let hedgeStarted = false
      for (;;) {
        const pending = attempts.filter(a => !failures.some(f => f.candidate === a.candidate))
        const race: Array<Promise<{ kind: 'done', placed: PlacedPiece, attempt: typeof attempts[number] } | { kind: 'failed', err: unknown, attempt: typeof attempts[number] } | { kind: 'hedge' }>> =
          pending.map(async a => await a.promise.then(placed => ({ kind: 'done' as const, placed, attempt: a }), (err: unknown) => ({ kind: 'failed' as const, err, attempt: a })))
        if (!hedgeStarted) race.push(hedge.then(() => ({ kind: 'hedge' as const })))
        const outcome = await Promise.race(race)
        if (outcome.kind === 'done') {
          for (const other of attempts) if (other !== outcome.attempt) other.controller.abort(new AbortError('another copy of this piece finished first'))
          await Promise.allSettled(attempts.map(a => a.promise))
          return outcome.placed
        }
        if (outcome.kind === 'hedge') {
          hedgeStarted = true
          const spare = this.next(spares)
          if (spare !== undefined) start(spare)
          continue
        }
        failures.push({ candidate: outcome.attempt.candidate, err: outcome.err })
        if (failures.length === attempts.length) {
          if (failures.length === 1) throw outcome.err
          throw new HedgeFailed(failures)
        }
      }
    } finally {
      clearTimeout(timer)
    }
  }
}

/** Both the primary and the hedge of a piece failed; each failure marks its node dead. */
class HedgeFailed extends Error {
  constructor (readonly failures: Array<{ candidate: Candidate, err: unknown }>) {
    super('every copy of the piece failed')
  }
}

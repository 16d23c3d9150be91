import type { AbortOptions } from '../core/abort.js'
import { NotEnoughNodesError, errorCode, errorMessage } from '../core/errors.js'
import type { NodeId, PieceId } from '../core/ids.js'
import type { Logger } from '../core/logger.js'
import type { PointerRecord } from '../crypto/pointer.js'
import { formatContact, type Contact, type PieceClient } from '../transfer/index.js'

export interface PlacedPiece {
  id: PieceId
  node: Contact & { nodeId: NodeId }
  /** The holder's signed pointer record, when its node sends one (DHT networks). */
  pointer?: PointerRecord
}

export interface PlacementFailure { node: string, code: string, message: string }

/** Places the k+m pieces of a segment on distinct nodes; only confirmed pieces count as placed. */
export interface PiecePlacer {
  place: (segmentIndex: number, pieces: ReadonlyArray<{ id: PieceId, data: Buffer }>, options?: AbortOptions) => Promise<PlacedPiece[]>
  /** Nodes that failed during this upload (and were replaced). */
  readonly failures: PlacementFailure[]
}

/**
 * Places the pieces of one segment on distinct nodes. Each segment starts from
 * a different offset in the node list so load spreads evenly; a node that fails
 * is replaced by a spare and avoided for the rest of the upload. A piece counts
 * as placed only when its node confirmed it (the node commits only verified bytes).
 */
export class Placer implements PiecePlacer {
  private readonly nodes: readonly Contact[]
  private readonly client: PieceClient
  private readonly log: Logger
  private readonly dead = new Set<string>()
  readonly failures: PlacementFailure[] = []

  constructor (nodes: readonly Contact[], client: PieceClient, log: Logger) {
    this.nodes = nodes
    this.client = client
    this.log = log
  }

  /** Nodes still considered usable. */
  get alive (): number {
    return this.nodes.filter(n => !this.dead.has(formatContact(n))).length
  }

  async place (segmentIndex: number, pieces: ReadonlyArray<{ id: PieceId, data: Buffer }>, options: AbortOptions = {}): Promise<PlacedPiece[]> {
    const n = this.nodes.length
    const start = (segmentIndex * pieces.length) % Math.max(1, n)
    const rotated = [...this.nodes.slice(start), ...this.nodes.slice(0, start)]
    const candidates = rotated.filter(c => !this.dead.has(formatContact(c)))
    if (candidates.length < pieces.length) throw this.notEnough(pieces.length)
    const spares = candidates.slice(pieces.length)
    const used = new Set<string>()

    return await Promise.all(pieces.map(async (piece, j) => {
      let node: Contact | undefined = candidates[j]
      while (node !== undefined) {
        const key = formatContact(node)
        used.add(key)
        try {
          const { nodeId, pointer } = await this.client.put(node, piece.id, piece.data, options)
          return pointer === undefined ? { id: piece.id, node: { ...node, nodeId } } : { id: piece.id, node: { ...node, nodeId }, pointer }
        } catch (err) {
          if (options.signal?.aborted === true) throw err
          this.dead.add(key)
          this.failures.push({ node: key, code: errorCode(err), message: errorMessage(err) })
          this.log.warn({ node: key, piece: piece.id, err: errorMessage(err) }, 'put failed; trying another node')
          node = nextSpare(spares, used, this.dead)
        }
      }
      throw this.notEnough(pieces.length)
    }))
  }

  private notEnough (needed: number): NotEnoughNodesError {
    return new NotEnoughNodesError(
      `A segment needs ${needed} distinct nodes but only ${this.alive} of ${this.nodes.length} are usable`,
      { details: { needed, alive: this.alive, failures: this.failures.slice(-10) } })
  }
}

function nextSpare (spares: Contact[], used: Set<string>, dead: Set<string>): Contact | undefined {
  while (spares.length > 0) {
    const next = spares.shift() as Contact
    const key = formatContact(next)
    if (!used.has(key) && !dead.has(key)) return next
  }
  return undefined
}

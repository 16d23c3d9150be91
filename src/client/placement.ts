import type { AbortOptions } from '../core/abort.js'
import { NotEnoughNodesError, errorCode, errorMessage } from '../core/errors.js'
import type { NodeId, PieceId } from '../core/ids.js'
import type { Logger } from '../core/logger.js'
import type { PointerRecord } from '../crypto/pointer.js'
import { formatContact, type Contact, type PieceClient, type PutGrant } from '../transfer/index.js'

export interface PlacedPiece {
  id: PieceId
  node: Contact & { nodeId: NodeId }
  /** The holder's signed pointer record, when its node sends one (DHT networks). */
  pointer?: PointerRecord
}

export interface PlacementFailure { node: string, code: string, message: string }

/** A piece to store; `grant` is the owner's put signature when the placer's client is not the owner (repair). */
export interface PieceToPlace { id: PieceId, data: Buffer, grant?: PutGrant }

export interface PlaceOptions extends AbortOptions {
  /**
   * Nodes that must not get any of these pieces: holders of the segment's other pieces, lost or
   * untrusted nodes (repair). By node id, or by HOST:PORT for nodes known only by address.
   */
  exclude?: { nodeIds?: ReadonlySet<string>, addresses?: ReadonlySet<string> }
}

/** Places the k+m pieces of a segment on distinct nodes; only confirmed pieces count as placed. */
export interface PiecePlacer {
  place: (segmentIndex: number, pieces: readonly PieceToPlace[], options?: PlaceOptions) => Promise<PlacedPiece[]>
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

  async place (segmentIndex: number, pieces: readonly PieceToPlace[], options: PlaceOptions = {}): Promise<PlacedPiece[]> {
    const n = this.nodes.length
    const start = (segmentIndex * pieces.length) % Math.max(1, n)
    const rotated = [...this.nodes.slice(start), ...this.nodes.slice(0, start)]
    const candidates = rotated.filter(c => !this.dead.has(formatContact(c)) && !isExcluded(c, options.exclude))
    if (candidates.length < pieces.length) throw this.notEnough(pieces.length)
    const spares = candidates.slice(pieces.length)
    const used = new Set<string>()

    return await Promise.all(pieces.map(async (piece, j) => {
      let node: Contact | undefined = candidates[j]
      while (node !== undefined) {
        const key = formatContact(node)
        used.add(key)
        try {
          const { nodeId, pointer } = await this.client.put(node, piece.id, piece.data, { signal: options.signal, ...(piece.grant === undefined ? {} : { grant: piece.grant }) })
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

/** True when `node` is in a PlaceOptions exclusion (by id when it has one, else by address). */
export function isExcluded (node: Contact & { nodeId?: string }, exclude: PlaceOptions['exclude']): boolean {
  if (exclude === undefined) return false
  if (node.nodeId !== undefined && exclude.nodeIds?.has(node.nodeId) === true) return true
  return exclude.addresses?.has(formatContact(node)) === true
}

function nextSpare (spares: Contact[], used: Set<string>, dead: Set<string>): Contact | undefined {
  while (spares.length > 0) {
    const next = spares.shift() as Contact
    const key = formatContact(next)
    if (!used.has(key) && !dead.has(key)) return next
  }
  return undefined
}

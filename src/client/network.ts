import type { AbortOptions } from '../core/abort.js'
import { NotEnoughNodesError } from '../core/errors.js'
import type { PieceId } from '../core/ids.js'
import type { Logger } from '../core/logger.js'
import type { PointerRecord } from '../crypto/pointer.js'
import type { Contact, PieceClient } from '../transfer/index.js'
import { StaticLocator, type PieceLocator } from './locator.js'
import { Placer, type PiecePlacer } from './placement.js'

/**
 * Where a client finds nodes: a fixed list (`--nodes`) or the DHT (dht-network.ts). Upload,
 * download and audit only see this interface, so both paths share every line of the data path.
 */
export interface StorageNetwork {
  /**
   * A placer for one upload (it remembers the nodes that failed during that upload). `hedge: false`
   * turns off hedged transfers, which can leave a piece on two nodes when both copies finish at
   * once: repair wants exactly one new copy of each rebuilt piece. `dataShards`: the first pieces
   * of a segment that downloads read (a DHT placer spreads them evenly over its nodes).
   */
  createPlacer: (client: PieceClient, log: Logger, options: { piecesPerSegment: number, dataShards?: number, hedge?: boolean }) => PiecePlacer
  /** Nodes to hold whole copies of the manifest, best first; may return fewer than `count`. */
  manifestTargets: (manifestId: PieceId, count: number, options?: AbortOptions) => Promise<Contact[]>
  /** Finds which nodes hold which pieces. */
  readonly locator: PieceLocator
  /**
   * Makes stored pieces findable: the DHT publishes the holders' signed pointer records; a static
   * list needs nothing (its locator asks every node).
   */
  publish: (records: readonly PointerRecord[], options?: AbortOptions) => Promise<void>
  close: () => Promise<void>
}

/** A fixed node list: every node is asked (HAS) when locating, pieces rotate over the list. */
export function staticNetwork (nodes: readonly Contact[], client: PieceClient, log?: Logger): StorageNetwork {
  return {
    createPlacer: (placerClient, placerLog, { piecesPerSegment }) => {
      if (nodes.length < piecesPerSegment) {
        throw new NotEnoughNodesError(`${piecesPerSegment} pieces per segment need at least ${piecesPerSegment} distinct nodes; ${nodes.length} given`)
      }
      return new Placer(nodes, placerClient, placerLog)
    },
    manifestTargets: async (_id, count) => nodes.slice(0, count),
    locator: new StaticLocator(nodes, client, log),
    publish: async () => {},
    close: async () => {}
  }
}

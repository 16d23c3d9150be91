import type { AbortOptions } from '../core/abort.js'
import type { NodeId, PieceId } from '../core/ids.js'
import { createLogger, type Logger } from '../core/logger.js'
import { errorMessage } from '../core/errors.js'
import type { Contact, PieceClient } from '../transfer/index.js'

/** A node that holds a piece, as a locator found it. */
export type Holder = Contact & { nodeId: NodeId }

/**
 * Finds which nodes hold which pieces. The static locator below asks a fixed
 * node list; the DHT locator (pointer records) implements the same interface.
 */
export interface LocateOptions extends AbortOptions {
  /**
   * Addresses the caller already knows by node id (the durability loop's registry, kept current by
   * keepalive): a locator that resolves holders by id uses them instead of a lookup each.
   */
  addressOf?: (nodeId: NodeId) => Contact | undefined
  /**
   * Some holders of each piece will do (a download): a locator may then stop looking early (the
   * DHT's FIND_VALUE). Without it every holder it can find is returned (health checks, repairs).
   */
  fast?: boolean
}

export interface PieceLocator {
  locate: (ids: readonly PieceId[], options?: LocateOptions) => Promise<Map<PieceId, Holder[]>>
  /**
   * A holder's current address when the one it was located at does not answer (it may have
   * restarted elsewhere); undefined when unknown or unchanged. Only locators that resolve
   * addresses (the DHT's) have it.
   */
  relocate?: (holder: Holder, options?: AbortOptions) => Promise<Holder | undefined>
}

/** Asks every node of a fixed list which of the pieces it holds (HAS, batched). Dead nodes are skipped. */
export class StaticLocator implements PieceLocator {
  private readonly nodes: readonly Contact[]
  private readonly client: PieceClient
  private readonly log: Logger

  constructor (nodes: readonly Contact[], client: PieceClient, log: Logger = createLogger('locator')) {
    this.nodes = nodes
    this.client = client
    this.log = log
  }

  async locate (ids: readonly PieceId[], options: AbortOptions = {}): Promise<Map<PieceId, Holder[]>> {
    const result = new Map<PieceId, Holder[]>(ids.map(id => [id, []]))
    await Promise.all(this.nodes.map(async contact => {
      try {
        const { have, nodeId } = await this.client.has(contact, ids, options)
        have.forEach((held, i) => {
          if (held) result.get(ids[i] as PieceId)?.push({ ...contact, nodeId })
        })
      } catch (err) {
        if (options.signal?.aborted === true) throw err
        this.log.warn({ node: `${contact.host}:${contact.port}`, err: errorMessage(err) }, 'node did not answer HAS; skipping it')
      }
    }))
    return result
  }
}

import type { AbortOptions } from '../core/abort.js'
import { NotEnoughNodesError, errorMessage } from '../core/errors.js'
import type { NodeId, PieceId } from '../core/ids.js'
import { createLogger, type Logger } from '../core/logger.js'
import type { PointerRecord } from '../crypto/pointer.js'
import { dhtKeyOf } from '../dht/keys.js'
import type { Dht, NodeInfo } from '../dht/types.js'
import type { Contact } from '../transfer/index.js'
import { DhtPlacer, type DhtPlacerOptions } from './dht-placer.js'
import type { Holder, LocateOptions, PieceLocator } from './locator.js'
import type { StorageNetwork } from './network.js'

export interface DhtNetworkOptions {
  /** A joined Dht (any role; CLI commands use role 'client'). Not stopped by close(). */
  dht: Dht
  logger?: Logger
  /** How long a resolved holder address is reused before it is looked up again. @defaultValue 60 s */
  holderTtlMs?: number
  placer?: DhtPlacerOptions
}

/**
 * The network as the DHT shows it: pieces go to the storage nodes closest to their ids (DhtPlacer),
 * holders publish signed pointer records, and retrieval finds a piece's holders through those
 * records and each holder's current address through its node id — so a node that came back on
 * another host or port is still found.
 */
export function dhtNetwork (options: DhtNetworkOptions): StorageNetwork {
  const log = options.logger ?? createLogger('dht-network')
  const locator = new DhtLocator(options.dht, { holderTtlMs: options.holderTtlMs, logger: log })
  return {
    createPlacer: (client, placerLog, { hedge, dataShards }) => new DhtPlacer(options.dht, client, placerLog, { ...options.placer, ...(hedge === false ? { hedgeFactor: Number.POSITIVE_INFINITY } : {}), ...(dataShards === undefined ? {} : { dataShards }) }),
    manifestTargets: async (manifestId, count, abort) => {
      const infos = await options.dht.storageNodesNear(dhtKeyOf(manifestId), { count, signal: abort?.signal })
      return infos.flatMap(info => info.piece === undefined ? [] : [{ host: info.piece.host, port: info.piece.port }])
    },
    locator,
    publish: async (records, abort) => {
      if (records.length === 0) return
      let result = await options.dht.publishPointers(records, abort)
      if (result.failed > 0) {
        // One retry: a lookup can race a node leaving. Holders republish on their own schedule,
        // but an upload reports success only when its pieces are findable now.
        log.warn({ failed: result.failed }, 'some pointer records found no node; retrying once')
        result = await options.dht.publishPointers(records, abort)
        if (result.failed > 0) {
          throw new NotEnoughNodesError(`${result.failed} of ${records.length} pointer records could not be stored in the DHT`, { details: { failed: result.failed } })
        }
      }
    },
    close: async () => {}
  }
}

/** Finds holders through pointer records, then their addresses by node id (cached for holderTtlMs). */
export class DhtLocator implements PieceLocator {
  private readonly holders = new Map<NodeId, { until: number, info: Promise<NodeInfo | undefined> }>()
  private readonly ttl: number
  private readonly negativeTtl: number
  private readonly log: Logger

  constructor (private readonly dht: Dht, options: { holderTtlMs?: number, logger?: Logger } = {}) {
    this.ttl = options.holderTtlMs ?? 60_000
    this.negativeTtl = Math.min(this.ttl, 10_000)
    this.log = options.logger ?? createLogger('dht-locator')
  }

  async locate (ids: readonly PieceId[], options: LocateOptions = {}): Promise<Map<PieceId, Holder[]>> {
    const result = new Map<PieceId, Holder[]>()
    const resolve = async (id: PieceId, records: readonly PointerRecord[]): Promise<void> => {
      const found = await Promise.all(records.map(async r => {
        const known = options.addressOf?.(r.holder)
        return known !== undefined ? { host: known.host, port: known.port, nodeId: r.holder } : await this.holder(r, options)
      }))
      result.set(id, found.filter((h): h is Holder => h !== undefined))
    }
    // Batched either way (Dht.findPointersMany): any holder will do (fast: a download), or every
    // holder the pieces' closest nodes know of (a health check, a repair).
    const records = await this.dht.findPointersMany(ids, { signal: options.signal, complete: options.fast !== true })
    await Promise.all([...records].map(async ([id, list]) => { await resolve(id, list) }))
    // Map in the order asked, as the static locator does.
    return new Map(ids.map(id => [id, result.get(id) ?? []]))
  }

  /**
   * The holder's current address, looked up afresh (its cached one did not answer: it may have
   * restarted elsewhere). Undefined when it cannot be found or is still at the same address.
   */
  async relocate (holder: Holder, options: AbortOptions = {}): Promise<Holder | undefined> {
    this.holders.delete(holder.nodeId)
    const info = await this.dht.findNode(holder.nodeId, options).catch(() => undefined)
    if (info?.piece === undefined) return undefined
    this.holders.set(holder.nodeId, { until: Date.now() + this.ttl, info: Promise.resolve(info) })
    if (info.piece.host === holder.host && info.piece.port === holder.port) return undefined
    return { host: info.piece.host, port: info.piece.port, nodeId: info.nodeId }
  }

  private async holder (record: PointerRecord, options: AbortOptions): Promise<Holder | undefined> {
    const now = Date.now()
    let entry = this.holders.get(record.holder)
    if (entry === undefined || now > entry.until) {
      const fresh: { until: number, info: Promise<NodeInfo | undefined> } = { until: now + this.ttl, info: Promise.resolve(undefined) }
      fresh.info = this.dht.findNode(record.holder, options).then(info => {
        // A holder that cannot be found is asked again soon, not for the whole TTL: it may be
        // restarting. Until then, segments go around it instead of waiting on its lookup again.
        if (info === undefined) fresh.until = Date.now() + this.negativeTtl
        return info
      }, (err: unknown) => {
        this.holders.delete(record.holder)
        if (options.signal?.aborted === true) throw err
        this.log.warn({ nodeId: record.holder.slice(0, 12), err: errorMessage(err) }, 'holder lookup failed')
        return undefined
      })
      entry = fresh
      this.holders.set(record.holder, entry)
    }
    const info = await entry.info
    if (info?.piece === undefined) return undefined
    const contact: Contact = { host: info.piece.host, port: info.piece.port }
    return { ...contact, nodeId: info.nodeId }
  }

}

import type { NodeId } from '../core/ids.js'
import { checkNodeInfo } from './node-info.js'
import type { NodeInfo } from './types.js'

/**
 * Contact records this node keeps for others: the signed NodeInfo a node publishes on the nodes
 * closest to its own key, so that it is found by id after coming back on another address even
 * while stale routing entries linger elsewhere. The newest issuedAt wins; records older than the
 * TTL are dropped (nodes republish well within it); the store is bounded.
 */

export interface ContactStoreOptions {
  /** How long a record is kept after it was issued. */
  ttlMs: number
  /** Records kept at most. @defaultValue 20_000 */
  maxRecords?: number
  /** Clock skew tolerated on issuedAt. @defaultValue 5 min */
  skewMs?: number
}

export type ContactPutOutcome = 'stored' | 'unchanged' | 'stale' | 'full' | 'invalid' | 'expired'

export class ContactStore {
  private readonly records = new Map<NodeId, NodeInfo>()
  private readonly ttlMs: number
  private readonly maxRecords: number
  private readonly skewMs: number

  constructor (options: ContactStoreOptions) {
    this.ttlMs = options.ttlMs
    this.maxRecords = options.maxRecords ?? 20_000
    this.skewMs = options.skewMs ?? 5 * 60_000
  }

  get size (): number { return this.records.size }

  put (value: unknown, now = Date.now()): ContactPutOutcome {
    const check = checkNodeInfo(value)
    if (!check.ok) return 'invalid'
    const info = check.info
    if (info.role === 'client') return 'invalid' // clients are not findable by design
    if (info.issuedAt + this.ttlMs <= now) return 'expired'
    if (info.issuedAt > now + this.skewMs) return 'invalid'
    const existing = this.records.get(info.nodeId)
    if (existing !== undefined) {
      if (existing.signature === info.signature) return 'unchanged'
      if (existing.issuedAt >= info.issuedAt) return 'stale'
      this.records.set(info.nodeId, info)
      return 'stored'
    }
    if (this.records.size >= this.maxRecords) {
      this.sweep(now)
      if (this.records.size >= this.maxRecords) return 'full'
    }
    this.records.set(info.nodeId, info)
    return 'stored'
  }

  get (nodeId: NodeId, now = Date.now()): NodeInfo | undefined {
    const info = this.records.get(nodeId)
    if (info === undefined) return undefined
    if (info.issuedAt + this.ttlMs <= now) {
      this.records.delete(nodeId)
      return undefined
    }
    return info
  }

  sweep (now = Date.now()): number {
    let dropped = 0
    for (const [id, info] of this.records) {
      if (info.issuedAt + this.ttlMs <= now) { this.records.delete(id); dropped++ }
    }
    return dropped
  }
}

import type { Redis } from 'ioredis'
import type { AbortOptions } from '../core/abort.js'
import type { Logger } from '../core/logger.js'
import { applyPing, nodeRecordSchema, withFacts, type NodeFacts, type NodeRecord, type PingOutcome, type Transition } from './node-state.js'
import type { KeepalivePolicy } from './payloads.js'
import { DEFAULT_REPUTATION_POLICY, recordAudit, type ReputationPolicy } from './reputation.js'
import { VersionedRecords } from './versioned-records.js'

/**
 * The node registry in Redis: node id → last known facts, keepalive state and audit reputation.
 * Records live in a VersionedRecords collection named "node" (versioned-records.ts: every change
 * is a compare-and-set, so a ping and an audit of the same node finishing at once lose nothing):
 *   <prefix>:registry:nodes        set of node ids
 *   <prefix>:registry:node:<id>    hash { v: version, record: JSON of NodeRecord }
 */
export interface NodeRegistryInit {
  redis: Redis
  /** Key prefix. @defaultValue 'batchain' */
  prefix?: string
  reputation?: ReputationPolicy
  /** Clock, for tests. @defaultValue Date.now */
  now?: () => number
  logger?: Logger
}

const HEX64 = /^[0-9a-f]{64}$/

export class NodeRegistry {
  private readonly records: VersionedRecords<NodeRecord>
  readonly reputation: ReputationPolicy
  private readonly now: () => number

  constructor (init: NodeRegistryInit) {
    this.records = new VersionedRecords<NodeRecord>({ redis: init.redis, prefix: init.prefix ?? 'batchain', name: 'node', schema: nodeRecordSchema, idOf: r => r.nodeId, idPattern: HEX64, logger: init.logger })
    this.reputation = init.reputation ?? DEFAULT_REPUTATION_POLICY
    this.now = init.now ?? Date.now
  }

  async get (nodeId: string, options: AbortOptions = {}): Promise<NodeRecord | undefined> {
    return await this.records.get(nodeId, options)
  }

  /** Every registered node (corrupt records are logged and left out, not fatal). */
  async list (options: AbortOptions = {}): Promise<NodeRecord[]> {
    return await this.records.list(options)
  }

  /**
   * Applies `change` to a node's record atomically (compare-and-set, retried on conflict).
   * `change` returns the new record, or undefined to leave it as it is; it may run more than once.
   */
  async update (nodeId: string, change: (record: NodeRecord | undefined) => NodeRecord | undefined, options: AbortOptions = {}): Promise<NodeRecord | undefined> {
    return await this.records.update(nodeId, change, options)
  }
  /** Registers a node or refreshes its facts (contact, capacity, zone); state and reputation stay. */
  async register (facts: NodeFacts, options: AbortOptions = {}): Promise<NodeRecord> {
    const now = this.now()
    const record = await this.update(facts.nodeId, existing => withFacts(existing, facts, now, this.reputation.initial), options)
    return record!
  }

  /** Records a keepalive result; undefined when the node is no longer registered. */
  async recordPing (nodeId: string, outcome: PingOutcome, policy: Pick<KeepalivePolicy, 'missesToOffline' | 'graceMs'>, options: AbortOptions = {}): Promise<{ record: NodeRecord, transition: Transition | undefined } | undefined> {
    let transition: Transition | undefined
    const record = await this.update(nodeId, existing => {
      if (existing === undefined) return undefined
      const applied = applyPing(existing, outcome, policy)
      transition = applied.transition
      return applied.record
    }, options)
    return record === undefined ? undefined : { record, transition }
  }

  /** Records one audit result in the node's reputation; undefined when the node is not registered. */
  async recordAudit (nodeId: string, passed: boolean, options: AbortOptions = {}): Promise<NodeRecord | undefined> {
    return await this.update(nodeId, existing => {
      if (existing === undefined) return undefined
      const rep = recordAudit(existing, passed, this.reputation)
      return { ...existing, alpha: rep.alpha, beta: rep.beta, audits: existing.audits + 1, auditFailures: existing.auditFailures + (passed ? 0 : 1) }
    }, options)
  }

  async remove (nodeId: string, options: AbortOptions = {}): Promise<boolean> {
    return await this.records.remove(nodeId, options)
  }
}

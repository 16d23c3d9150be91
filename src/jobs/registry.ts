import type { Redis } from 'ioredis'
import { raceSignal, type AbortOptions } from '../core/abort.js'
import { BatchainError, InvalidArgumentError, RegistryCorruptError } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import { applyPing, nodeRecordSchema, withFacts, type NodeFacts, type NodeRecord, type PingOutcome, type Transition } from './node-state.js'
import type { KeepalivePolicy } from './payloads.js'
import { DEFAULT_REPUTATION_POLICY, recordAudit, type ReputationPolicy } from './reputation.js'

/**
 * The node registry in Redis: node id → last known facts, keepalive state and audit reputation.
 *
 * Layout (prefix default "batchain", the same as BullMQ's; no queue is named "registry"):
 *   <prefix>:registry:nodes        set of node ids
 *   <prefix>:registry:node:<id>    hash { v: version, record: JSON of NodeRecord }
 *
 * Every change is a read → pure transition (node-state.ts, reputation.ts) → compare-and-set write:
 * a Lua script writes only when the version is still the one read, otherwise the update is
 * retried on the fresh record. WATCH/MULTI would do the same but needs a connection of its own per
 * update (WATCH is per connection and processors share one); the script works on a shared
 * connection. Lost updates are therefore impossible even when a ping and an audit of the same node
 * finish at the same moment on different workers.
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

/** KEYS[1] node hash, KEYS[2] node set; ARGV: expected version, new version, record JSON, node id. */
const CAS_SCRIPT = `
local v = redis.call('HGET', KEYS[1], 'v')
if (v or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'record', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
return 1
`

const MAX_CAS_ATTEMPTS = 20
const HEX64 = /^[0-9a-f]{64}$/

export class NodeRegistry {
  private readonly redis: Redis
  private readonly prefix: string
  private readonly reputation: ReputationPolicy
  private readonly now: () => number
  private readonly logger: Logger | undefined

  constructor (init: NodeRegistryInit) {
    this.redis = init.redis
    this.prefix = init.prefix ?? 'batchain'
    this.reputation = init.reputation ?? DEFAULT_REPUTATION_POLICY
    this.now = init.now ?? Date.now
    this.logger = init.logger
  }

  private nodeKey (nodeId: string): string {
    if (!HEX64.test(nodeId)) throw new InvalidArgumentError('node id must be 64 lowercase hex characters')
    return `${this.prefix}:registry:node:${nodeId}`
  }

  private get setKey (): string { return `${this.prefix}:registry:nodes` }

  /** The record and its version; undefined when the node is not registered. */
  private async read (nodeId: string, options: AbortOptions): Promise<{ record: NodeRecord | undefined, version: string }> {
    const [v, json] = await raceSignal(this.redis.hmget(this.nodeKey(nodeId), 'v', 'record'), options.signal)
    if (v === null || v === undefined || json === null || json === undefined) return { record: undefined, version: '0' }
    return { record: this.parse(nodeId, json), version: v }
  }

  private parse (nodeId: string, json: string): NodeRecord {
    let value: unknown
    try { value = JSON.parse(json) } catch { throw new RegistryCorruptError(`Registry record of node ${nodeId.slice(0, 16)}… is not JSON`) }
    const parsed = nodeRecordSchema.safeParse(value)
    if (!parsed.success || parsed.data.nodeId !== nodeId) throw new RegistryCorruptError(`Registry record of node ${nodeId.slice(0, 16)}… is malformed`)
    return parsed.data
  }

  async get (nodeId: string, options: AbortOptions = {}): Promise<NodeRecord | undefined> {
    return (await this.read(nodeId, options)).record
  }

  /** Every registered node (corrupt records are logged and left out, not fatal). */
  async list (options: AbortOptions = {}): Promise<NodeRecord[]> {
    const ids = (await raceSignal(this.redis.smembers(this.setKey), options.signal)).filter(id => HEX64.test(id)).sort()
    if (ids.length === 0) return []
    const pipeline = this.redis.pipeline()
    for (const id of ids) pipeline.hget(this.nodeKey(id), 'record')
    const replies = (await raceSignal(pipeline.exec(), options.signal)) ?? []
    const out: NodeRecord[] = []
    ids.forEach((id, i) => {
      const [err, json] = replies[i] ?? [null, null]
      if (err !== null || typeof json !== 'string') return
      try {
        out.push(this.parse(id, json))
      } catch (e) {
        this.logger?.warn({ nodeId: id, err: (e as Error).message }, 'skipping corrupt registry record')
      }
    })
    return out
  }

  /**
   * Applies `change` to a node's record atomically (compare-and-set, retried on conflict).
   * `change` returns the new record, or undefined to leave it as it is; it may run more than once.
   */
  async update (nodeId: string, change: (record: NodeRecord | undefined) => NodeRecord | undefined, options: AbortOptions = {}): Promise<NodeRecord | undefined> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const { record, version } = await this.read(nodeId, options)
      const next = change(record)
      if (next === undefined) return record
      if (next.nodeId !== nodeId) throw new InvalidArgumentError('a registry update must not change the node id')
      const ok = await raceSignal(this.redis.eval(CAS_SCRIPT, 2, this.nodeKey(nodeId), this.setKey, version, String(Number(version) + 1), JSON.stringify(next), nodeId), options.signal)
      if (ok === 1) return next
    }
    throw new BatchainError(`Registry record of node ${nodeId.slice(0, 16)}… kept changing; gave up after ${MAX_CAS_ATTEMPTS} attempts`)
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
    const key = this.nodeKey(nodeId)
    const [[, removed] = [null, 0]] = (await raceSignal(this.redis.multi().srem(this.setKey, nodeId).del(key).exec(), options.signal)) ?? []
    return removed === 1
  }
}

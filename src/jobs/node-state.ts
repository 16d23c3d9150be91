import { z } from 'zod'
import type { KeepalivePolicy } from './payloads.js'
import type { Reputation } from './reputation.js'

/**
 * What the durability loop knows about one storage node, and the pure rules by which keepalive
 * results move it between states. The registry (registry.ts) stores these records in Redis; this
 * module has no I/O and no clock (times are passed in), so every transition is unit-tested.
 *
 *   unknown ──ok──▶ online ──N misses in a row──▶ offline ──grace elapsed──▶ lost
 *      │                ▲                            │                       │
 *      └─N misses──▶ offline             ok (returned)◀──────────────────────┘
 *
 * - unknown: registered, never answered yet.
 * - offline: N pings in a row went unanswered; its pieces still count (it may be rebooting).
 * - lost: offline for longer than the grace period (0: at once); its pieces count as lost and the
 *   checker repairs their segments. A lost node that answers again is online again, and whatever
 *   pieces it still holds count again (the checker asks holders, it does not trust this record).
 */

export const NODE_STATES = ['unknown', 'online', 'offline', 'lost'] as const
export type NodeState = typeof NODE_STATES[number]

const address = z.strictObject({ host: z.string().min(1).max(255), port: z.number().int().min(1).max(65535) })

/** Stored shape (validated on every read: Redis is shared, a bad record must not poison a worker). */
export const nodeRecordSchema = z.strictObject({
  nodeId: z.string().regex(/^[0-9a-f]{64}$/),
  /** The piece server (BatNode). */
  piece: address,
  /** The KadNode, when known (discovered through the DHT). */
  dht: address.optional(),
  capacity: z.number().int().nonnegative().optional(),
  free: z.number().int().nonnegative().optional(),
  zone: z.string().max(64).optional(),
  state: z.enum(NODE_STATES),
  /** Pings missed in a row (0 after any answer). */
  missed: z.number().int().nonnegative(),
  registeredAt: z.number().int().nonnegative(),
  lastPingAt: z.number().int().nonnegative().optional(),
  lastSeen: z.number().int().nonnegative().optional(),
  rttMs: z.number().nonnegative().optional(),
  /** Why the last ping failed (an error code, never a message that could carry data). */
  lastError: z.string().max(80).optional(),
  offlineSince: z.number().int().nonnegative().optional(),
  lostSince: z.number().int().nonnegative().optional(),
  /** Audit reputation counts (reputation.ts). */
  alpha: z.number().nonnegative(),
  beta: z.number().nonnegative(),
  audits: z.number().int().nonnegative(),
  auditFailures: z.number().int().nonnegative()
})
export type NodeRecord = z.infer<typeof nodeRecordSchema>

/** Facts about a node learned from outside keepalive (a seed list, the DHT's NodeInfo, an upload). */
export interface NodeFacts {
  nodeId: string
  piece: { host: string, port: number }
  dht?: { host: string, port: number }
  capacity?: number
  free?: number
  zone?: string
}

/** A new record, or an existing one with fresh facts; state, misses and reputation are kept. */
export function withFacts (existing: NodeRecord | undefined, facts: NodeFacts, now: number, prior: Reputation): NodeRecord {
  const base: NodeRecord = existing ?? {
    nodeId: facts.nodeId,
    piece: facts.piece,
    state: 'unknown',
    missed: 0,
    registeredAt: now,
    alpha: prior.alpha,
    beta: prior.beta,
    audits: 0,
    auditFailures: 0
  }
  const next: NodeRecord = { ...base, piece: { host: facts.piece.host, port: facts.piece.port } }
  if (facts.dht !== undefined) next.dht = { host: facts.dht.host, port: facts.dht.port }
  if (facts.capacity !== undefined) next.capacity = facts.capacity
  if (facts.free !== undefined) next.free = facts.free
  if (facts.zone !== undefined) next.zone = facts.zone
  return next
}

export type PingOutcome =
  | { ok: true, at: number, rttMs: number }
  | { ok: false, at: number, error: string }

/** What changed, for logs and events: undefined when the state stayed the same. */
export type Transition = 'online' | 'offline' | 'lost' | 'returned'

/** The record after one ping (pure). */
export function applyPing (record: NodeRecord, outcome: PingOutcome, policy: Pick<KeepalivePolicy, 'missesToOffline' | 'graceMs'>): { record: NodeRecord, transition: Transition | undefined } {
  const next: NodeRecord = { ...record, lastPingAt: outcome.at }
  if (outcome.ok) {
    const was = record.state
    next.state = 'online'
    next.missed = 0
    next.lastSeen = outcome.at
    next.rttMs = outcome.rttMs
    delete next.lastError
    delete next.offlineSince
    delete next.lostSince
    const transition: Transition | undefined = was === 'online' ? undefined : was === 'unknown' ? 'online' : 'returned'
    return { record: next, transition }
  }
  next.missed = record.missed + 1
  next.lastError = outcome.error.slice(0, 80)
  let transition: Transition | undefined
  if ((record.state === 'online' || record.state === 'unknown') && next.missed >= policy.missesToOffline) {
    next.state = 'offline'
    next.offlineSince = outcome.at
    transition = 'offline'
  }
  if (next.state === 'offline' && next.offlineSince !== undefined && outcome.at - next.offlineSince >= policy.graceMs) {
    next.state = 'lost'
    next.lostSince = outcome.at
    transition = 'lost'
  }
  return { record: next, transition }
}

/**
 * Whether this node's pieces count as lost at `now`: lost, or offline for at least the grace
 * period (true between two pings too, so readers need not wait for the next keepalive).
 */
export function piecesLost (record: NodeRecord, now: number, graceMs: number): boolean {
  if (record.state === 'lost') return true
  return record.state === 'offline' && record.offlineSince !== undefined && now - record.offlineSince >= graceMs
}

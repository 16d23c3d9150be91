import { InvalidArgumentError } from '../core/errors.js'

/**
 * Job ids and deduplication ids: the rules that keep the same work from being queued twice.
 *
 * Two BullMQ mechanisms, used together:
 * - a custom **job id**: BullMQ ignores an add whose id already exists (waiting, active, delayed, or
 *   kept after it finished). Ids that name a tick ("this node, this tick") make a tick's fan-out
 *   idempotent: a tick job that runs twice (retried, or recovered after a stall) adds nothing new.
 * - a **deduplication id** (BullMQ's `deduplication.id`, simple mode: no TTL): set while a job with
 *   that id is waiting, delayed or active, cleared when it completes or fails. It gives "one at a
 *   time" across ticks: a node's next ping is not queued while its last one is still pending
 *   (pings of one node must not overlap, they count misses in a row), and a segment never has two
 *   repairs in flight, however many checkers see it unhealthy.
 *
 * BullMQ refuses custom ids that are integers or contain ':' (it reserves `repeat:…:…` for
 * schedulers), so the parts are joined with '.'.
 */

const HEX64 = /^[0-9a-f]{64}$/

function checkHex (what: string, value: string): void {
  if (!HEX64.test(value)) throw new InvalidArgumentError(`${what} must be 64 lowercase hex characters`)
}

function checkCount (what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(`${what} must be a non-negative integer, got ${value}`)
}

/** The tick of a periodic schedule that `at` falls in: floor(at / everyMs). */
export function tickOf (at: number, everyMs: number): number {
  if (!Number.isFinite(everyMs) || everyMs <= 0) throw new InvalidArgumentError(`everyMs must be positive, got ${everyMs}`)
  return Math.floor(at / everyMs)
}

/** One keepalive per node per tick. */
export function pingJobId (nodeId: string, tick: number): string {
  checkHex('node id', nodeId)
  checkCount('tick', tick)
  return `ping.${nodeId}.${tick}`
}

/** One keepalive per node at a time (across ticks). */
export function pingDedupId (nodeId: string): string {
  checkHex('node id', nodeId)
  return `ping.${nodeId}`
}

/** One audit per file per tick. */
export function auditJobId (manifestId: string, tick: number): string {
  checkHex('manifest id', manifestId)
  checkCount('tick', tick)
  return `audit.${manifestId}.${tick}`
}

/** One audit per file at a time. */
export function auditDedupId (manifestId: string): string {
  checkHex('manifest id', manifestId)
  return `audit.${manifestId}`
}

/**
 * One repair per segment at a time. Repairs have no tick: the dedup id alone decides, so a
 * segment can be repaired again once its last repair finished (it may have degraded since).
 */
export function repairDedupId (manifestId: string, segment: number): string {
  checkHex('manifest id', manifestId)
  checkCount('segment', segment)
  return `repair.${manifestId}.${segment}`
}

/** One health check per file at a time. */
export function repairCheckDedupId (manifestId: string): string {
  checkHex('manifest id', manifestId)
  return `repair-check.${manifestId}`
}

/**
 * The health check of one file, one pending per file (by verify capability): the job every trigger
 * queues — the check tick, a failed audit, a node turning lost, `batchain repair`, the dashboard.
 */
export function repairCheckJob (capability: string): { name: 'repair-check', data: { capability: string }, opts: { deduplication: { id: string } } } {
  const manifestId = /^batchain:v1:([0-9a-f]{64})$/.exec(capability)?.[1]
  if (manifestId === undefined) throw new InvalidArgumentError('a repair check needs a verify capability')
  return { name: 'repair-check', data: { capability }, opts: { deduplication: { id: repairCheckDedupId(manifestId) } } }
}

/** Scheduler ids (BullMQ job scheduler ids; one per periodic task, owned by the leader). */
export const SCHEDULER_IDS = {
  keepaliveTick: 'keepalive-tick',
  auditTick: 'audit-tick',
  /** Health checks of every registered file (queues repair-check jobs). */
  checkTick: 'check-tick',
  /** Registers storage nodes found through the DHT. */
  discoverTick: 'discover-tick'
} as const

/**
 * BullMQ priority of a repair: fewer good pieces first (1 is the highest BullMQ priority; 0 would
 * mean "no priority" and jump ahead of every prioritised job).
 */
export function repairPriority (good: number): number {
  checkCount('good', good)
  return Math.min(good + 1, 2_097_151)
}

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

/**
 * Segments per repair job. A job repairs degraded segments of one aligned range
 * [b × REPAIR_BATCH_SEGMENTS, (b + 1) × REPAIR_BATCH_SEGMENTS) of a file, so that one
 * deduplication id per range keeps one repair per segment at a time.
 */
export const REPAIR_BATCH_SEGMENTS = 16

/** The aligned range (batch) a segment's repairs belong to. */
export function repairBatchOf (segment: number): number {
  checkCount('segment', segment)
  return Math.floor(segment / REPAIR_BATCH_SEGMENTS)
}

/**
 * One repair per segment at a time, for jobs covering several segments: every segment of a batch
 * job lies in the same aligned range, and a range has one id, so two jobs that share a segment
 * share their id (and the second is not queued while the first is pending or running).
 */
export function repairBatchDedupId (manifestId: string, batch: number): string {
  checkHex('manifest id', manifestId)
  checkCount('batch', batch)
  return `repair.${manifestId}.b${batch}`
}

/**
 * The repair jobs for a file's degraded segments: one per aligned range that has any, its segments
 * in index order, prioritised by its worst segment (fewest good pieces first).
 */
export function repairBatchJobs (capability: string, degraded: ReadonlyArray<{ index: number, good: number }>): Array<{ name: 'repair-segments', data: { capability: string, segments: number[], good: number }, opts: { priority: number, deduplication: { id: string } } }> {
  const manifestId = /^batchain:v1:([0-9a-f]{64})$/.exec(capability)?.[1]
  if (manifestId === undefined) throw new InvalidArgumentError('a repair needs a verify capability')
  const batches = new Map<number, Array<{ index: number, good: number }>>()
  for (const d of degraded) {
    const b = repairBatchOf(d.index)
    batches.set(b, [...(batches.get(b) ?? []), d])
  }
  return [...batches.entries()]
    .map(([batch, list]) => {
      const good = Math.min(...list.map(d => d.good))
      const segments = [...new Set(list.map(d => d.index))].sort((a, b) => a - b)
      return { name: 'repair-segments' as const, data: { capability, segments, good }, opts: { priority: repairPriority(good), deduplication: { id: repairBatchDedupId(manifestId, batch) } } }
    })
    .sort((a, b) => a.data.good - b.data.good || (a.data.segments[0] as number) - (b.data.segments[0] as number))
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

import type { Job } from 'bullmq'
import { z } from 'zod'
import type { NodeId, PieceId } from '../core/ids.js'
import type { Logger } from '../core/logger.js'
import { checkPointer, type PointerRecord } from '../crypto/pointer.js'
import type { RepairPlacement, SegmentRepairResult } from '../client/index.js'
import { errorCode, errorMessage } from '../core/errors.js'
import type { Durability } from './durability.js'
import type { FileRegistry } from './file-registry.js'
import { checkDue } from './file-state.js'
import { auditJobId, auditDedupId, repairBatchJobs, repairCheckJob, tickOf } from './job-ids.js'
import { scheduledAt } from './keepalive.js'
import type { PayloadOf } from './payloads.js'

/**
 * Processors of the audit and repair queues. Each is idempotent (a job may run twice: retried, or
 * recovered after its worker died):
 *   audit-tick     → one audit-file job per registered file (ids per file and tick)
 *   audit-file     → challenges a sample; failures queue a repair-check of the file
 *   check-tick     → one repair-check job per registered file (one pending per file)
 *   repair-check   → health of every segment; a repair-segments job per aligned range of
 *                    REPAIR_BATCH_SEGMENTS segments that has degraded ones, worst first (BullMQ
 *                    priority), one pending per range (so one repair per segment at a time)
 *   repair-segments → rebuilds those segments' missing pieces (a few segments in flight, pointer
 *                    records published together); each placement is saved in the job's progress
 *                    as its node confirms it, so a re-run confirms them instead of storing the same
 *                    piece on another node
 *   repair-segment → one segment (jobs queued by earlier versions), run the same way
 */
export interface DurabilityJobDeps {
  durability: Durability
  files: FileRegistry
  addAudit: (jobs: Array<{ name: 'audit-file', data: PayloadOf<'audit', 'audit-file'>, opts: { jobId: string, deduplication: { id: string } } }>) => Promise<unknown>
  addRepair: (jobs: Array<{ name: 'repair-check', data: PayloadOf<'repair', 'repair-check'>, opts: { deduplication: { id: string } } } | { name: 'repair-segments', data: PayloadOf<'repair', 'repair-segments'>, opts: { priority: number, deduplication: { id: string } } }>) => Promise<unknown>
  logger?: Logger
}

const manifestIdOf = (capability: string): string => capability.slice('batchain:v1:'.length)

export async function processAuditTick (job: Pick<Job, 'id' | 'timestamp' | 'delay'>, data: PayloadOf<'audit', 'audit-tick'>, deps: DurabilityJobDeps, signal?: AbortSignal): Promise<{ tick: number, files: number }> {
  const tick = tickOf(scheduledAt(job), data.everyMs)
  const files = await deps.files.list(signal === undefined ? {} : { signal })
  const jobs = files.map(f => ({ name: 'audit-file' as const, data: { capability: f.capability, tick }, opts: { jobId: auditJobId(f.manifestId, tick), deduplication: { id: auditDedupId(f.manifestId) } } }))
  if (jobs.length > 0) await deps.addAudit(jobs)
  return { tick, files: jobs.length }
}

export async function processAuditFile (data: PayloadOf<'audit', 'audit-file'>, deps: DurabilityJobDeps, signal?: AbortSignal): Promise<{ manifestId: string, challenged: number, ok: number, failed: number, missing: number, failedNodes: string[], repairQueued: boolean }> {
  const options = signal === undefined ? {} : { signal }
  const report = await deps.durability.audit(data.capability, {
    ...options,
    samplePerSegment: data.samplePerSegment ?? 2,
    ...(data.leavesPerPiece === undefined ? {} : { leavesPerPiece: data.leavesPerPiece })
  })
  const manifestId = manifestIdOf(data.capability)
  const repairQueued = report.failed > 0 || report.missing > 0
  if (repairQueued) await deps.addRepair([repairCheckJob(data.capability)])
  const failedNodes = [...new Set(report.pieces.filter(p => p.state === 'failed' && p.nodeId !== null).map(p => p.nodeId as string))]
  if (report.failed > 0) deps.logger?.warn({ manifestId, failed: report.failed, nodes: failedNodes.map(n => n.slice(0, 12)) }, 'audit failures')
  return { manifestId, challenged: report.pieces.length, ok: report.ok, failed: report.failed, missing: report.missing, failedNodes, repairQueued }
}

export async function processCheckTick (data: PayloadOf<'repair', 'check-tick'>, deps: DurabilityJobDeps, signal?: AbortSignal): Promise<{ files: number }> {
  void data
  const now = Date.now()
  const files = (await deps.files.list(signal === undefined ? {} : { signal })).filter(f => checkDue(f, now))
  if (files.length > 0) {
    await deps.addRepair(files.map(f => repairCheckJob(f.capability)))
  }
  return { files: files.length }
}

export async function processRepairCheck (data: PayloadOf<'repair', 'repair-check'>, deps: DurabilityJobDeps, signal?: AbortSignal): Promise<{ manifestId: string, segments: number, minGood: number, degraded: number, queued: number, registered: number }> {
  const check = await deps.durability.check(data.capability, signal === undefined ? {} : { signal })
  let queued = 0
  if (check.degraded.length > 0) {
    const jobs = repairBatchJobs(check.capability, check.degraded)
    await deps.addRepair(jobs)
    queued = jobs.length
    deps.logger?.info({ manifestId: check.manifestId, degraded: check.degraded.length, jobs: jobs.length, worst: check.degraded[0]?.good }, 'queued segment repairs')
  }
  return {
    manifestId: check.manifestId,
    segments: check.segments.length,
    minGood: Math.min(...check.segments.map(s => s.good)),
    degraded: check.degraded.length,
    queued,
    registered: check.registered
  }
}

const placementSchema = z.object({
  /** The segment (jobs covering several segments); absent in a one-segment job's progress. */
  segment: z.number().int().nonnegative().max(1 << 24).optional(),
  shard: z.number().int().min(0).max(1024),
  pieceId: z.string().regex(/^[0-9a-f]{64}$/),
  node: z.object({ host: z.string().min(1).max(255), port: z.number().int().min(1).max(65535), nodeId: z.string().regex(/^[0-9a-f]{64}$/) }),
  pointer: z.unknown().optional()
})
const progressSchema = z.object({ placed: z.array(placementSchema).max(1024) })

/** Placements an earlier run of this job saved (malformed progress is ignored: it is only a hint). */
export function previousPlacements (progress: unknown): Array<RepairPlacement & { segment?: number }> {
  const parsed = progressSchema.safeParse(progress)
  if (!parsed.success) return []
  return parsed.data.placed.map(p => {
    const pointer = p.pointer as PointerRecord | undefined
    const valid = pointer !== undefined && checkPointer(pointer).ok
    return { ...(p.segment === undefined ? {} : { segment: p.segment }), shard: p.shard, pieceId: p.pieceId as PieceId, node: { host: p.node.host, port: p.node.port, nodeId: p.node.nodeId as NodeId }, ...(valid ? { pointer } : {}) }
  })
}

export interface RepairJobResult {
  manifestId: string
  segments: Array<{ segment: number, goodBefore: number, goodAfter: number, rebuilt: number, bytes: number, skipped: boolean, nodes: string[], ms: SegmentRepairResult['timings'] }>
  failed: Array<{ segment: number, code: string, message: string }>
  /** Pieces rebuilt and stored by this job, and their bytes. */
  rebuilt: number
  bytes: number
  /** Milliseconds locating the batch's pieces and publishing their pointer records (shared by its segments). */
  ms: { locate: number, publish: number }
}

/**
 * Repairs the segments of a repair-segments (or a legacy repair-segment) job. Placements go to the
 * job's progress as their nodes confirm them, tagged with their segment; a re-run gets them back.
 * Segments that fail do not stop the others; the job then fails (and is retried with backoff)
 * naming them, after the others' repairs were recorded and their pointers published.
 */
export async function processRepairSegments (job: Pick<Job, 'progress' | 'updateProgress'>, data: { capability: string, segments: readonly number[] }, deps: DurabilityJobDeps, signal?: AbortSignal): Promise<RepairJobResult> {
  const only = data.segments.length === 1 ? data.segments[0] : undefined
  // A one-segment job's progress (earlier versions) has no segment field: it is that segment.
  const previous = previousPlacements(job.progress).flatMap(p => {
    const segment = p.segment ?? only
    return segment === undefined ? [] : [{ ...p, segment }]
  })
  const saved = [...previous]
  // Progress writes in order, one at a time: each one holds every placement confirmed before it.
  let writes = Promise.resolve()
  const batch = await deps.durability.repairSegments(data.capability, data.segments, {
    ...(signal === undefined ? {} : { signal }),
    previous,
    onPlaced: async placement => {
      saved.push(placement)
      const snapshot = { placed: [...saved] }
      writes = writes.then(async () => { await job.updateProgress(snapshot) })
      await writes
    }
  })
  const result: RepairJobResult = {
    manifestId: manifestIdOf(data.capability),
    segments: batch.results.map(r => ({
      segment: r.segment,
      goodBefore: r.goodBefore,
      goodAfter: r.goodAfter,
      rebuilt: r.skipped ? 0 : r.placed.length,
      bytes: r.bytes,
      skipped: r.skipped,
      nodes: r.placed.map(p => p.node.nodeId),
      ms: r.timings
    })),
    failed: batch.failed.map(f => ({ segment: f.segment, code: errorCode(f.error), message: errorMessage(f.error) })),
    rebuilt: batch.results.reduce((sum, r) => sum + (r.skipped ? 0 : r.placed.length), 0),
    bytes: batch.results.reduce((sum, r) => sum + r.bytes, 0),
    ms: batch.timings
  }
  const first = batch.failed[0]
  if (first !== undefined) {
    deps.logger?.warn({ manifestId: result.manifestId, failed: result.failed.map(f => f.segment), repaired: result.segments.length }, 'some segment repairs failed')
    // The job fails with the first segment's error (its class decides whether a retry can help).
    throw first.error
  }
  return result
}

/** A legacy one-segment job (queued by earlier versions), run as a batch of one. */
export async function processRepairSegment (job: Pick<Job, 'progress' | 'updateProgress'>, data: PayloadOf<'repair', 'repair-segment'>, deps: DurabilityJobDeps, signal?: AbortSignal): Promise<RepairJobResult> {
  return await processRepairSegments(job, { capability: data.capability, segments: [data.segment] }, deps, signal)
}

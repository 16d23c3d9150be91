import type { Job } from 'bullmq'
import { z } from 'zod'
import type { NodeId, PieceId } from '../core/ids.js'
import type { Logger } from '../core/logger.js'
import { checkPointer, type PointerRecord } from '../crypto/pointer.js'
import type { RepairPlacement, SegmentRepairResult } from '../client/index.js'
import type { Durability } from './durability.js'
import type { FileRegistry } from './file-registry.js'
import { checkDue } from './file-state.js'
import { auditJobId, auditDedupId, repairCheckJob, repairDedupId, repairPriority, tickOf } from './job-ids.js'
import { scheduledAt } from './keepalive.js'
import type { PayloadOf } from './payloads.js'

/**
 * Processors of the audit and repair queues. Each is idempotent (a job may run twice: retried, or
 * recovered after its worker died):
 *   audit-tick     → one audit-file job per registered file (ids per file and tick)
 *   audit-file     → challenges a sample; failures queue a repair-check of the file
 *   check-tick     → one repair-check job per registered file (one pending per file)
 *   repair-check   → health of every segment; a repair-segment job per degraded segment, worst
 *                    first (BullMQ priority), one pending per segment
 *   repair-segment → rebuilds the segment's missing pieces; its placements are saved in the
 *                    job's progress as they happen, so a re-run confirms them instead of storing
 *                    the same piece on another node
 */
export interface DurabilityJobDeps {
  durability: Durability
  files: FileRegistry
  addAudit: (jobs: Array<{ name: 'audit-file', data: PayloadOf<'audit', 'audit-file'>, opts: { jobId: string, deduplication: { id: string } } }>) => Promise<unknown>
  addRepair: (jobs: Array<{ name: 'repair-check', data: PayloadOf<'repair', 'repair-check'>, opts: { deduplication: { id: string } } } | { name: 'repair-segment', data: PayloadOf<'repair', 'repair-segment'>, opts: { priority: number, deduplication: { id: string } } }>) => Promise<unknown>
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
  if (check.degraded.length > 0) {
    await deps.addRepair(check.degraded.map(d => ({
      name: 'repair-segment' as const,
      data: { capability: check.capability, segment: d.index, good: d.good },
      opts: { priority: repairPriority(d.good), deduplication: { id: repairDedupId(check.manifestId, d.index) } }
    })))
    deps.logger?.info({ manifestId: check.manifestId, degraded: check.degraded.length, worst: check.degraded[0]?.good }, 'queued segment repairs')
  }
  return {
    manifestId: check.manifestId,
    segments: check.segments.length,
    minGood: Math.min(...check.segments.map(s => s.good)),
    degraded: check.degraded.length,
    queued: check.degraded.length,
    registered: check.registered
  }
}

const placementSchema = z.object({
  shard: z.number().int().min(0).max(1024),
  pieceId: z.string().regex(/^[0-9a-f]{64}$/),
  node: z.object({ host: z.string().min(1).max(255), port: z.number().int().min(1).max(65535), nodeId: z.string().regex(/^[0-9a-f]{64}$/) }),
  pointer: z.unknown().optional()
})
const progressSchema = z.object({ placed: z.array(placementSchema).max(1024) })

/** Placements an earlier run of this job saved (malformed progress is ignored: it is only a hint). */
export function previousPlacements (progress: unknown): RepairPlacement[] {
  const parsed = progressSchema.safeParse(progress)
  if (!parsed.success) return []
  return parsed.data.placed.map(p => {
    const pointer = p.pointer as PointerRecord | undefined
    const valid = pointer !== undefined && checkPointer(pointer).ok
    return { shard: p.shard, pieceId: p.pieceId as PieceId, node: { host: p.node.host, port: p.node.port, nodeId: p.node.nodeId as NodeId }, ...(valid ? { pointer } : {}) }
  })
}

export async function processRepairSegment (job: Pick<Job, 'progress' | 'updateProgress'>, data: PayloadOf<'repair', 'repair-segment'>, deps: DurabilityJobDeps, signal?: AbortSignal): Promise<{ manifestId: string, segment: number, goodBefore: number, goodAfter: number, rebuilt: number, bytes: number, skipped: boolean, nodes: string[], ms: SegmentRepairResult['timings'] }> {
  const previous = previousPlacements(job.progress)
  const saved = [...previous]
  const result = await deps.durability.repair(data.capability, data.segment, {
    ...(signal === undefined ? {} : { signal }),
    previous,
    onPlaced: async placement => {
      saved.push(placement)
      await job.updateProgress({ placed: saved })
    }
  })
  return {
    manifestId: manifestIdOf(data.capability),
    segment: data.segment,
    goodBefore: result.goodBefore,
    goodAfter: result.goodAfter,
    rebuilt: result.skipped ? 0 : result.placed.length,
    bytes: result.bytes,
    skipped: result.skipped,
    nodes: result.placed.map(p => p.node.nodeId),
    ms: result.timings
  }
}

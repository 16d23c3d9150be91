import type { FileRecord } from '../jobs/file-state.js'
import type { NodeRecord, NodeState } from '../jobs/node-state.js'
import type { QueueName } from '../jobs/payloads.js'
import { isTrusted, reputationScore, type ReputationPolicy } from '../jobs/reputation.js'

/**
 * View models: what the pages and the JSON API show, computed from registry records by pure
 * functions (no I/O, the clock passed in), so every number on a page is unit-tested.
 */

/** A registered node plus what the dashboard derives for it. */
export type NodeView = NodeRecord & {
  /** Reputation score alpha / (alpha + beta), in [0, 1]. */
  score: number
  /** score ≥ the reputation threshold. */
  trusted: boolean
  /** Pieces of registered files it holds, as the last health checks counted them. */
  pieces: number
  /** capacity − free, when both are known. */
  used?: number
}

/** How healthy a file was at its last check. */
export type FileHealthStatus = 'unchecked' | 'healthy' | 'degraded' | 'unrecoverable'

export interface FileHealthView {
  checkedAt: number
  /** Good pieces of the worst segment. */
  minGood: number
  /** Pieces per segment (k + m). */
  width: number
  /** Segments under the repair threshold. */
  degraded: number
  piecesGood: number
  piecesTotal: number
  status: Exclude<FileHealthStatus, 'unchecked'>
}

export interface AuditView {
  at: number
  challenged: number
  ok: number
  failed: number
  missing: number
  /** Holders that could not be reached (no verdict); 0 for records written before it was counted. */
  unreachable: number
  failedNodes: string[]
  passed: boolean
}

/** One row of the files page. */
export interface FileSummaryView {
  manifestId: string
  capability: string
  /** The label, or the manifest id's first 12 characters. */
  name: string
  label?: string
  owner?: string
  dataShards: number
  parityShards: number
  segments: number
  storedBytes: number
  repairThreshold: number
  createdAt: string
  registeredAt: number
  status: FileHealthStatus
  health: FileHealthView | null
  lastAudit: AuditView | null
  repairs: { count: number, piecesRebuilt: number, bytesRebuilt: number }
}

export interface SegmentView {
  index: number
  good: number
  /** One PIECE_STATE_LETTERS letter per piece, data shards first (as recorded; missing letters are unknown). */
  states: string
  /** Under the repair threshold. */
  degraded: boolean
}

/** The file page: the summary plus per-segment health, holders and recent repairs. */
export interface FileDetailView extends FileSummaryView {
  segmentHealth: SegmentView[]
  /** Pieces of this file per holder, most first. */
  holders: Array<{ nodeId: string, pieces: number }>
  /** Pieces with at least one holder that failed an audit of it. */
  badPieces: number
  recentRepairs: FileRecord['repairs']['recent']
}

/** Job counts of one queue by state (BullMQ's getJobCounts). */
export type QueueCounts = Record<string, number>

export interface SummaryView {
  generatedAt: number
  threshold: number
  nodes: {
    total: number
    byState: Record<NodeState, number>
    trusted: number
    /** Sum over nodes that report it; `unknownCapacity` nodes do not. */
    capacity: number
    free: number
    unknownCapacity: number
    auditFailures: number
  }
  files: {
    total: number
    byStatus: Record<FileHealthStatus, number>
    segments: number
    segmentsDegraded: number
    piecesGood: number
    piecesTotal: number
    storedBytes: number
    /** Files whose last audit found failed or missing pieces. */
    lastAuditFailed: number
  }
  repairs: { count: number, piecesRebuilt: number, bytesRebuilt: number }
  /** Per queue; absent when the counts could not be read. */
  queues?: Partial<Record<QueueName, QueueCounts>>
}

export const MANIFEST_ID = /^[0-9a-f]{64}$/

export function isManifestId (value: unknown): value is string {
  return typeof value === 'string' && MANIFEST_ID.test(value)
}

export function shortId (id: string): string {
  return id.slice(0, 12)
}

/** Pieces per node id, summed over every file's last health check. */
export function piecesPerNode (files: readonly FileRecord[]): Map<string, number> {
  const out = new Map<string, number>()
  for (const f of files) {
    for (const [nodeId, n] of Object.entries(f.health?.nodes ?? {})) out.set(nodeId, (out.get(nodeId) ?? 0) + n)
  }
  return out
}

export function nodeView (record: NodeRecord, pieces: number, policy: Pick<ReputationPolicy, 'threshold'>): NodeView {
  const view: NodeView = { ...record, score: reputationScore(record), trusted: isTrusted(record, policy), pieces }
  if (record.capacity !== undefined && record.free !== undefined) view.used = Math.max(0, record.capacity - record.free)
  return view
}

/** Node views, sorted: lost and offline first (what needs a look), then by id. */
export function nodeViews (nodes: readonly NodeRecord[], files: readonly FileRecord[], policy: Pick<ReputationPolicy, 'threshold'>): NodeView[] {
  const pieces = piecesPerNode(files)
  const rank: Record<NodeState, number> = { lost: 0, offline: 1, unknown: 2, online: 3 }
  return nodes
    .map(n => nodeView(n, pieces.get(n.nodeId) ?? 0, policy))
    .sort((a, b) => rank[a.state] - rank[b.state] || (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0))
}

export function healthStatus (record: FileRecord): FileHealthStatus {
  const h = record.health
  if (h === undefined) return 'unchecked'
  if (h.good.length > 0 && h.minGood < record.dataShards) return 'unrecoverable'
  return h.degraded > 0 ? 'degraded' : 'healthy'
}

function auditView (record: FileRecord): AuditView | null {
  const a = record.lastAudit
  if (a === undefined) return null
  const unreachable = (a as { unreachable?: number }).unreachable ?? 0
  return { ...a, unreachable, failedNodes: [...a.failedNodes], passed: a.failed === 0 && a.missing === 0 }
}

export function fileSummary (record: FileRecord): FileSummaryView {
  const width = record.dataShards + record.parityShards
  const status = healthStatus(record)
  const h = record.health
  const view: FileSummaryView = {
    manifestId: record.manifestId,
    capability: record.capability,
    name: record.label !== undefined && record.label.trim() !== '' ? record.label : shortId(record.manifestId),
    dataShards: record.dataShards,
    parityShards: record.parityShards,
    segments: record.segments,
    storedBytes: record.storedBytes,
    repairThreshold: record.repairThreshold,
    createdAt: record.createdAt,
    registeredAt: record.registeredAt,
    status,
    health: h === undefined || status === 'unchecked'
      ? null
      : { checkedAt: h.checkedAt, minGood: h.minGood, width, degraded: h.degraded, piecesGood: h.good.reduce((s, g) => s + g, 0), piecesTotal: h.good.length * width, status },
    lastAudit: auditView(record),
    repairs: { count: record.repairs.count, piecesRebuilt: record.repairs.piecesRebuilt, bytesRebuilt: record.repairs.bytesRebuilt }
  }
  if (record.label !== undefined) view.label = record.label
  if (record.owner !== undefined) view.owner = record.owner
  return view
}

/** File rows: unrecoverable, then degraded, unchecked, healthy; by name within each. */
export function fileSummaries (files: readonly FileRecord[]): FileSummaryView[] {
  const rank: Record<FileHealthStatus, number> = { unrecoverable: 0, degraded: 1, unchecked: 2, healthy: 3 }
  return files.map(fileSummary).sort((a, b) => rank[a.status] - rank[b.status] || a.name.localeCompare(b.name) || (a.manifestId < b.manifestId ? -1 : 1))
}

export function fileDetail (record: FileRecord): FileDetailView {
  const h = record.health
  const segmentHealth: SegmentView[] = h === undefined
    ? []
    : h.good.map((good, index) => ({ index, good, states: h.states[index] ?? '', degraded: good < record.repairThreshold }))
  const holders = Object.entries(h?.nodes ?? {})
    .map(([nodeId, pieces]) => ({ nodeId, pieces }))
    .sort((a, b) => b.pieces - a.pieces || (a.nodeId < b.nodeId ? -1 : 1))
  return {
    ...fileSummary(record),
    segmentHealth,
    holders,
    badPieces: Object.keys(record.badHolders).length,
    recentRepairs: [...record.repairs.recent].reverse()
  }
}

export function summarize (nodes: readonly NodeRecord[], files: readonly FileRecord[], policy: Pick<ReputationPolicy, 'threshold'>, now: number, queues?: Partial<Record<QueueName, QueueCounts>>): SummaryView {
  const byState: Record<NodeState, number> = { online: 0, offline: 0, lost: 0, unknown: 0 }
  let trusted = 0; let capacity = 0; let free = 0; let unknownCapacity = 0; let auditFailures = 0
  for (const n of nodes) {
    byState[n.state]++
    if (isTrusted(n, policy)) trusted++
    if (n.capacity === undefined) unknownCapacity++
    else { capacity += n.capacity; free += n.free ?? 0 }
    auditFailures += n.auditFailures
  }
  const byStatus: Record<FileHealthStatus, number> = { unchecked: 0, healthy: 0, degraded: 0, unrecoverable: 0 }
  let segments = 0; let segmentsDegraded = 0; let piecesGood = 0; let piecesTotal = 0; let storedBytes = 0; let lastAuditFailed = 0
  const repairs = { count: 0, piecesRebuilt: 0, bytesRebuilt: 0 }
  for (const f of files) {
    const s = fileSummary(f)
    byStatus[s.status]++
    segments += f.segments
    storedBytes += f.storedBytes
    if (s.health !== null) {
      segmentsDegraded += s.health.degraded
      piecesGood += s.health.piecesGood
      piecesTotal += s.health.piecesTotal
    }
    if (s.lastAudit !== null && !s.lastAudit.passed) lastAuditFailed++
    repairs.count += f.repairs.count
    repairs.piecesRebuilt += f.repairs.piecesRebuilt
    repairs.bytesRebuilt += f.repairs.bytesRebuilt
  }
  const summary: SummaryView = {
    generatedAt: now,
    threshold: policy.threshold,
    nodes: { total: nodes.length, byState, trusted, capacity, free, unknownCapacity, auditFailures },
    files: { total: files.length, byStatus, segments, segmentsDegraded, piecesGood, piecesTotal, storedBytes, lastAuditFailed },
    repairs
  }
  if (queues !== undefined) summary.queues = queues
  return summary
}

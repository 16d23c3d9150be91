import { createHash } from 'node:crypto'
import type { FileRecord } from '../jobs/file-state.js'

/**
 * The StoredFile resource as the controller sees it, and the pure parts of reconciling it: the
 * data hash that decides whether the data must be stored again, conditions with honest
 * lastTransitionTime, and the status computed from an upload result and the file registry.
 */
export const GROUP = 'batchain.io'
export const VERSION = 'v1alpha1'
export const PLURAL = 'storedfiles'
export const KIND = 'StoredFile'
export const API_VERSION = `${GROUP}/${VERSION}`
export const FINALIZER = 'batchain.io/finalizer'
export const FIELD_MANAGER = 'batchain-controller'
/** Limits of the worker's upload-file payload (jobs/payloads.ts); the CRD allows more. */
export const WORKER_MAX_DATA_SHARDS = 24
export const WORKER_MAX_PARITY_SHARDS = 6

export interface KeyRef { name: string, key: string }

export interface StoredFileSpec {
  source: { inline?: string, configMapKeyRef?: KeyRef, secretKeyRef?: KeyRef, url?: string }
  redundancy?: { dataShards?: number, parityShards?: number, repairThreshold?: number }
  auditInterval?: string
  deletionPolicy?: 'Delete' | 'Retain'
}

export interface Condition {
  type: string
  status: 'True' | 'False' | 'Unknown'
  observedGeneration?: number
  lastTransitionTime: string
  reason: string
  message: string
}

export interface StoredFileStatus {
  phase?: 'Pending' | 'Uploading' | 'Ready' | 'Degraded' | 'Repairing' | 'Deleting' | 'Failed'
  health?: 'Healthy' | 'Degraded' | 'Unknown'
  observedGeneration?: number
  dataHash?: string
  size?: number
  sha256?: string
  manifestId?: string
  verifyCapability?: string
  capabilitySecretRef?: { name: string }
  pieces?: { good: number, total: number }
  piecesSummary?: string
  lastAudit?: { time: string, result: 'Passed' | 'Failed' | 'Error', piecesChecked?: number, piecesFailed?: number }
  lastRepair?: { time: string, piecesRepaired?: number }
  conditions?: Condition[]
}

export interface StoredFile {
  apiVersion?: string
  kind?: string
  metadata: {
    name: string
    namespace: string
    uid: string
    generation?: number
    resourceVersion?: string
    deletionTimestamp?: string
    finalizers?: string[]
    creationTimestamp?: string
  }
  spec: StoredFileSpec
  status?: StoredFileStatus
}

export interface Redundancy {
  dataShards: number
  parityShards: number
  /** As in the CRD: repair when good pieces ≤ this (and one is missing). */
  repairThreshold: number
  /** As the file registry counts: a segment with fewer good pieces than this is repaired. */
  registryThreshold: number
}

/** Spec redundancy with the CRD's defaults (4+2; repairThreshold omitted = dataShards + 1). */
export function redundancyOf (spec: StoredFileSpec): Redundancy {
  const dataShards = spec.redundancy?.dataShards ?? 4
  const parityShards = spec.redundancy?.parityShards ?? 2
  const n = dataShards + parityShards
  const repairThreshold = Math.min(n, spec.redundancy?.repairThreshold ?? dataShards + 1)
  // CRD: repaired when good ≤ threshold (and a piece is missing); registry: when good < threshold.
  return { dataShards, parityShards, repairThreshold, registryThreshold: Math.min(n, repairThreshold + 1) }
}

export type SourceKind = 'inline' | 'configMapKeyRef' | 'secretKeyRef' | 'url'

export function sourceKindOf (spec: StoredFileSpec): SourceKind | undefined {
  const s = spec.source ?? {}
  if (s.inline !== undefined) return 'inline'
  if (s.configMapKeyRef !== undefined) return 'configMapKeyRef'
  if (s.secretKeyRef !== undefined) return 'secretKeyRef'
  if (s.url !== undefined) return 'url'
  return undefined
}

/**
 * Hash of everything that decides the stored data: the kind of source and its content (the bytes'
 * SHA-256 for inline/ConfigMap/Secret, so an edited ConfigMap is stored again; the URL itself for a
 * url) and the redundancy. Equal hash = the stored copy is still the right one.
 */
export function dataHashOf (kind: SourceKind, content: { sha256?: string, url?: string }, r: Redundancy): string {
  const canonical = JSON.stringify({ v: 1, kind, sha256: content.sha256 ?? null, url: content.url ?? null, k: r.dataShards, m: r.parityShards, t: r.repairThreshold })
  return createHash('sha256').update(canonical).digest('hex')
}

/** BullMQ custom ids may not contain ':'; names and uids never do. */
export function uploadJobId (uid: string, dataHash: string): string {
  return `upload.${uid}.${dataHash.slice(0, 16)}`
}

export function deleteJobId (uid: string, manifestId: string): string {
  return `delete.${uid}.${manifestId.slice(0, 16)}`
}

export function auditSchedulerId (uid: string): string {
  return `audit.${uid}`
}

/** Secret holding the read capability: `<name>-capability` (a hash-suffixed name when that would be too long). */
export function capabilitySecretName (name: string): string {
  const plain = `${name}-capability`
  if (plain.length <= 253) return plain
  return `${name.slice(0, 200).replace(/[-.]+$/, '')}-${createHash('sha256').update(name).digest('hex').slice(0, 16)}-capability`
}

/** Go duration with h/m/s units (as the CRD's pattern allows) → ms. */
export function parseGoDuration (text: string): number | undefined {
  if (!/^(\d{1,6}(\.\d{1,6})?(h|m|s))+$/.test(text)) return undefined
  let ms = 0
  for (const m of text.matchAll(/(\d{1,6}(?:\.\d{1,6})?)(h|m|s)/g)) {
    ms += Number(m[1]) * (m[2] === 'h' ? 3_600_000 : m[2] === 'm' ? 60_000 : 1000)
  }
  return Math.round(ms)
}

/**
 * Sets a condition in a list (a new array): lastTransitionTime changes only when the status does;
 * reason, message and observedGeneration are always updated.
 */
export function setCondition (conditions: readonly Condition[] | undefined, next: Omit<Condition, 'lastTransitionTime'>, now: string): Condition[] {
  const list = [...(conditions ?? [])]
  const i = list.findIndex(c => c.type === next.type)
  const old = i >= 0 ? list[i] : undefined
  const merged: Condition = { ...next, lastTransitionTime: old !== undefined && old.status === next.status ? old.lastTransitionTime : now }
  if (i >= 0) list[i] = merged
  else list.push(merged)
  return list
}

export function removeCondition (conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter(c => c.type !== type)
}

export function conditionOf (status: StoredFileStatus | undefined, type: string): Condition | undefined {
  return status?.conditions?.find(c => c.type === type)
}

/** Health facts of a stored file from its registry record (undefined fields: not checked yet). */
export interface HealthView {
  health: 'Healthy' | 'Degraded' | 'Unknown'
  pieces?: { good: number, total: number }
  /** Segments under the repair threshold at the last check. */
  degradedSegments: number
  checkedAt?: number
  lastAudit?: NonNullable<StoredFileStatus['lastAudit']>
  lastRepair?: NonNullable<StoredFileStatus['lastRepair']>
  repairs: number
}

export function healthOf (record: FileRecord | undefined): HealthView {
  if (record === undefined) return { health: 'Unknown', degradedSegments: 0, repairs: 0 }
  const n = record.dataShards + record.parityShards
  const view: HealthView = { health: 'Unknown', degradedSegments: 0, repairs: record.repairs.count }
  if (record.health !== undefined) {
    const good = record.health.good.reduce((a, b) => a + b, 0)
    const total = record.segments * n
    view.pieces = { good: Math.min(good, total), total }
    view.degradedSegments = record.health.degraded
    view.checkedAt = record.health.checkedAt
    view.health = good >= total ? 'Healthy' : 'Degraded'
  }
  if (record.lastAudit !== undefined) {
    const a = record.lastAudit
    const failed = a.failed + a.missing
    view.lastAudit = {
      time: new Date(a.at).toISOString(),
      result: failed > 0 ? 'Failed' : a.challenged === 0 && a.unreachable > 0 ? 'Error' : 'Passed',
      piecesChecked: a.challenged,
      piecesFailed: Math.min(failed, a.challenged)
    }
  }
  const last = record.repairs.recent.at(-1)
  if (last !== undefined) view.lastRepair = { time: new Date(last.at).toISOString(), piecesRepaired: record.repairs.piecesRebuilt }
  return view
}

/** RFC 3339 with second precision, as metav1.Time serialises. */
export function kubeTime (ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** A JSON merge patch turning `from` into `to` at the top level of status (removed keys → null). */
export function statusMergePatch (from: StoredFileStatus | undefined, to: StoredFileStatus): Record<string, unknown> | undefined {
  const patch: Record<string, unknown> = {}
  const keys = new Set([...Object.keys(from ?? {}), ...Object.keys(to)])
  for (const key of keys) {
    const a = (from as Record<string, unknown> | undefined)?.[key]
    const b = (to as Record<string, unknown>)[key]
    if (b === undefined) { if (a !== undefined) patch[key] = null; continue }
    if (JSON.stringify(a) !== JSON.stringify(b)) patch[key] = b
  }
  return Object.keys(patch).length === 0 ? undefined : patch
}

/** A user-facing message must never carry a read capability: anything shaped like one is cut out. */
export function redact (text: string): string {
  return text.replace(/batchain:r1:[^\s"',;]*/g, 'batchain:r1:<redacted>').slice(0, 1024)
}

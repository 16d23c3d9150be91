import { z } from 'zod'

/**
 * What the durability loop knows about one stored file, and the pure changes audits, checks and
 * repairs make to it. The file registry (file-registry.ts) keeps these records in Redis.
 *
 * A file is known by its verify capability only (manifest id, no key): everything here can be shown
 * on a dashboard. `label` is what the uploader chose to call it (the real name is sealed in the
 * manifest); it is optional and never derived from the sealed part.
 */

const hex64 = z.string().regex(/^[0-9a-f]{64}$/)
const time = z.number().int().nonnegative()
const count = z.number().int().nonnegative()

/** At most this many bad holders are remembered per file (oldest dropped first). */
export const MAX_BAD_HOLDERS = 256
/** At most this many recent repairs are kept per file. */
export const MAX_RECENT_REPAIRS = 20

/**
 * One letter per piece, in shard order, for a compact per-piece picture of a segment:
 *   g good (a trusted holder that is online, or offline within the grace period)
 *   b bad (its only holders failed an audit of it)   u untrusted (holders under the reputation threshold)
 *   l lost (holders lost: offline past the grace period)   m missing (no holder found)
 */
export const PIECE_STATE_LETTERS = { good: 'g', bad: 'b', untrusted: 'u', lost: 'l', missing: 'm' } as const
export type PieceHealthState = keyof typeof PIECE_STATE_LETTERS

export const segmentHealthSchema = z.strictObject({
  index: count,
  good: count,
  total: count,
  /** PIECE_STATE_LETTERS, one per piece. */
  states: z.string().regex(/^[gbulm]*$/).max(64)
})
export type SegmentHealth = z.infer<typeof segmentHealthSchema>

export const fileRecordSchema = z.strictObject({
  manifestId: hex64,
  capability: z.string().regex(/^batchain:v1:[0-9a-f]{64}$/),
  label: z.string().max(256).optional(),
  /** Who registered it: a StoredFile namespace/name, a CLI upload, … (display only). */
  owner: z.string().max(512).optional(),
  /** The upload job that stored it, when it came through the upload queue (its result is kept under this id). */
  uploadJobId: z.string().max(200).optional(),
  dataShards: z.number().int().min(1),
  parityShards: z.number().int().min(0),
  segments: count,
  /** Bytes stored on nodes: all pieces of all segments. */
  storedBytes: count,
  /** A segment with fewer good pieces than this is repaired. k ≤ threshold ≤ k + m. */
  repairThreshold: z.number().int().min(1),
  createdAt: z.string().max(64),
  registeredAt: time,
  /** The last health check: good pieces per segment (good ≤ total = k + m). */
  health: z.strictObject({
    checkedAt: time,
    /** How long that check took, ms (the check tick spaces a file's checks by a multiple of it). */
    tookMs: z.number().nonnegative().optional(),
    /** good count per segment, in segment order (compact: a 10 GiB file has ~1300 segments). */
    good: z.array(count),
    /** Per segment, one PIECE_STATE_LETTERS letter per piece. */
    states: z.array(z.string().regex(/^[gbulm]*$/).max(64)),
    /** Pieces of this file per holder node id (good or not), for the network page. */
    nodes: z.record(hex64, count),
    minGood: count,
    /** Segments under the repair threshold at that check. */
    degraded: count
  }).optional(),
  lastAudit: z.strictObject({
    at: time,
    challenged: count,
    ok: count,
    failed: count,
    missing: count,
    /** Holders that could not be reached (no verdict). */
    unreachable: count,
    /** Nodes that failed at least one challenge (ids). */
    failedNodes: z.array(hex64).max(64)
  }).optional(),
  /** Holders that failed an audit of a piece: piece id → node ids. They no longer count as good. */
  badHolders: z.record(hex64, z.array(hex64).max(64)),
  repairs: z.strictObject({
    count,
    piecesRebuilt: count,
    bytesRebuilt: count,
    /** When each segment was last repaired (segment index → ms): a check that started earlier must not undo it. */
    repairedAt: z.record(z.string().regex(/^\d{1,8}$/), time).optional(),
    recent: z.array(z.strictObject({
      at: time,
      segment: count,
      rebuilt: count,
      goodBefore: count,
      goodAfter: count,
      seconds: z.number().nonnegative()
    })).max(MAX_RECENT_REPAIRS)
  })
})
export type FileRecord = z.infer<typeof fileRecordSchema>

export interface FileFacts {
  manifestId: string
  capability: string
  label?: string
  owner?: string
  dataShards: number
  parityShards: number
  segments: number
  storedBytes: number
  createdAt: string
  /** @defaultValue dataShards + parityShards (every lost piece is rebuilt) */
  repairThreshold?: number
}

/** A new record, or the existing one with its facts refreshed (history kept). */
export function withFileFacts (existing: FileRecord | undefined, facts: FileFacts, now: number): FileRecord {
  const n = facts.dataShards + facts.parityShards
  const threshold = Math.min(n, Math.max(facts.dataShards, facts.repairThreshold ?? existing?.repairThreshold ?? n))
  const base: FileRecord = existing ?? {
    manifestId: facts.manifestId,
    capability: facts.capability,
    dataShards: facts.dataShards,
    parityShards: facts.parityShards,
    segments: facts.segments,
    storedBytes: facts.storedBytes,
    repairThreshold: threshold,
    createdAt: facts.createdAt,
    registeredAt: now,
    badHolders: {},
    repairs: { count: 0, piecesRebuilt: 0, bytesRebuilt: 0, recent: [] }
  }
  return {
    ...base,
    capability: facts.capability,
    dataShards: facts.dataShards,
    parityShards: facts.parityShards,
    segments: facts.segments,
    storedBytes: facts.storedBytes,
    createdAt: facts.createdAt,
    repairThreshold: threshold,
    ...(facts.label === undefined ? {} : { label: facts.label }),
    ...(facts.owner === undefined ? {} : { owner: facts.owner })
  }
}

export interface AuditOutcome {
  at: number
  /** Every challenge: piece, holder (or none when nobody holds it), passed or not. */
  challenges: ReadonlyArray<{ pieceId: string, nodeId: string | null, state: 'ok' | 'failed' | 'missing' | 'unreachable' }>
}

/** Records an audit: the summary, and every holder that failed becomes a bad holder of its piece. */
export function withAudit (record: FileRecord, outcome: AuditOutcome): FileRecord {
  const bad = { ...record.badHolders }
  const failedNodes = new Set<string>()
  for (const c of outcome.challenges) {
    if (c.state !== 'failed' || c.nodeId === null) continue
    failedNodes.add(c.nodeId)
    const list = bad[c.pieceId] ?? []
    if (!list.includes(c.nodeId)) bad[c.pieceId] = [...list, c.nodeId].slice(-64)
  }
  return {
    ...record,
    badHolders: trimBad(bad),
    lastAudit: {
      at: outcome.at,
      challenged: outcome.challenges.length,
      ok: outcome.challenges.filter(c => c.state === 'ok').length,
      failed: outcome.challenges.filter(c => c.state === 'failed').length,
      missing: outcome.challenges.filter(c => c.state === 'missing').length,
      unreachable: outcome.challenges.filter(c => c.state === 'unreachable').length,
      failedNodes: [...failedNodes].sort().slice(0, 64)
    }
  }
}

function trimBad (bad: Record<string, string[]>): Record<string, string[]> {
  const keys = Object.keys(bad)
  if (keys.length <= MAX_BAD_HOLDERS) return bad
  // Insertion order is oldest first: drop the oldest entries.
  return Object.fromEntries(keys.slice(keys.length - MAX_BAD_HOLDERS).map(k => [k, bad[k] as string[]]))
}

/** Records a health check of every segment. */
export function withHealth (record: FileRecord, segments: readonly SegmentHealth[], nodes: Readonly<Record<string, number>>, at: number, tookMs?: number): FileRecord {
  // A segment repaired while this check ran keeps what the repair verified: the check saw it before.
  const startedAt = at - (tookMs ?? 0)
  const repairedAt = record.repairs.repairedAt ?? {}
  const prev = record.health
  const fresh = (s: SegmentHealth): boolean => prev === undefined || (repairedAt[String(s.index)] ?? 0) <= startedAt || prev.good[s.index] === undefined
  const good = segments.map(s => fresh(s) ? s.good : prev?.good[s.index] as number)
  const states = segments.map(s => fresh(s) ? s.states : prev?.states[s.index] ?? s.states)
  return {
    ...record,
    health: {
      checkedAt: at,
      ...(tookMs === undefined ? {} : { tookMs: Math.round(tookMs) }),
      good,
      states,
      nodes: { ...nodes },
      minGood: good.length === 0 ? 0 : Math.min(...good),
      degraded: good.filter(g => g < record.repairThreshold).length
    }
  }
}

export interface RepairOutcome {
  at: number
  segment: number
  rebuilt: number
  bytes: number
  goodBefore: number
  goodAfter: number
  /** The segment's piece states after the repair (PIECE_STATE_LETTERS). */
  states?: string
  seconds: number
}

/** Records a repair; the segment's health is updated to what the repair verified. */
export function withRepair (record: FileRecord, outcome: RepairOutcome): FileRecord {
  let health = record.health
  if (health !== undefined && outcome.segment < health.good.length) {
    const good = [...health.good]
    good[outcome.segment] = outcome.goodAfter
    const states = [...health.states]
    if (outcome.states !== undefined) states[outcome.segment] = outcome.states
    health = { ...health, good, states, minGood: Math.min(...good), degraded: good.filter(g => g < record.repairThreshold).length }
  }
  const entry = { at: outcome.at, segment: outcome.segment, rebuilt: outcome.rebuilt, goodBefore: outcome.goodBefore, goodAfter: outcome.goodAfter, seconds: Math.round(outcome.seconds * 1000) / 1000 }
  return {
    ...record,
    ...(health === undefined ? {} : { health }),
    repairs: {
      count: record.repairs.count + (outcome.rebuilt > 0 ? 1 : 0),
      piecesRebuilt: record.repairs.piecesRebuilt + outcome.rebuilt,
      bytesRebuilt: record.repairs.bytesRebuilt + outcome.bytes,
      repairedAt: outcome.rebuilt > 0 ? { ...record.repairs.repairedAt, [String(outcome.segment)]: outcome.at } : (record.repairs.repairedAt ?? {}),
      recent: outcome.rebuilt > 0 ? [...record.repairs.recent, entry].slice(-MAX_RECENT_REPAIRS) : record.repairs.recent
    }
  }
}

/**
 * Whether the periodic check should look at this file now. A check locates every piece, which for
 * a large file costs seconds of DHT lookups that would otherwise compete with the repairs it
 * queued: a file is checked again only after CHECK_SPACING × its last check's duration (and at
 * every tick when checks are quick).
 */
export const CHECK_SPACING = 5
export function checkDue (record: Pick<FileRecord, 'health'>, now: number): boolean {
  const h = record.health
  if (h === undefined || h.tookMs === undefined) return true
  return now - h.checkedAt >= CHECK_SPACING * h.tookMs
}

/** True when a holder failed an audit of this piece (it does not count as good). */
export function isBadHolder (record: Pick<FileRecord, 'badHolders'>, pieceId: string, nodeId: string): boolean {
  return Object.hasOwn(record.badHolders, pieceId) && record.badHolders[pieceId]?.includes(nodeId) === true
}

import { z } from 'zod'
import { JobPayloadError } from '../core/errors.js'
import { REPAIR_BATCH_SEGMENTS } from './job-ids.js'

/**
 * Queue names and the typed payloads of every job on them.
 *
 * Payloads are data from Redis, i.e. from any process that can reach it: every job is validated
 * against its queue's schema before a processor sees it, and anything unknown or malformed fails
 * for good (JobPayloadError, turned into BullMQ's UnrecoverableError by the worker) instead of
 * being retried or crashing the worker.
 *
 * No key ever goes into a payload: files are named by their verify capability
 * (`batchain:v1:<manifest id>`), which the schema checks by shape, so a read capability
 * (`batchain:r1:…:<key>`) is refused at enqueue time and again at processing time.
 */

export const QUEUE_NAMES = ['keepalive', 'audit', 'repair', 'upload'] as const
export type QueueName = typeof QUEUE_NAMES[number]

export function isQueueName (value: string): value is QueueName {
  return (QUEUE_NAMES as readonly string[]).includes(value)
}

/**
 * Queues this version has processors for (the type of worker.ts's PROCESSORS requires one for each).
 * Listed here rather than derived in worker.ts so the CLI can show them without loading BullMQ.
 */
export const QUEUES_WITH_PROCESSORS = ['keepalive', 'audit', 'repair', 'upload'] as const satisfies readonly QueueName[]
export type QueueWithProcessor = typeof QUEUES_WITH_PROCESSORS[number]

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters')
const nodeId = hex64
/** A verify capability only: the schema is the guard that keeps keys out of Redis. */
const verifyCapability = z.string().regex(/^batchain:v1:[0-9a-f]{64}$/, 'must be a verify capability (batchain:v1:<manifest id>); read capabilities carry a key and never go into a job')
/** Tick number of a periodic schedule (floor(time / period)); part of job ids. */
const tick = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)

/** How keepalive judges a node; chosen by the scheduler (the leader) and carried in every ping job. */
export const keepalivePolicySchema = z.strictObject({
  /** Missed pings in a row that make a node offline. */
  missesToOffline: z.number().int().min(1).max(1000),
  /** ms a node may stay offline before its pieces count as lost (0: at once). */
  graceMs: z.number().int().min(0).max(365 * 24 * 3600 * 1000),
  /** Deadline of one ping, ms. */
  pingTimeoutMs: z.number().int().min(100).max(10 * 60 * 1000)
})
export type KeepalivePolicy = z.infer<typeof keepalivePolicySchema>

export const keepaliveTickSchema = z.strictObject({
  /** Period of the schedule that produced this tick, ms. */
  everyMs: z.number().int().min(100).max(24 * 3600 * 1000),
  policy: keepalivePolicySchema,
  /**
   * Register the storage nodes the worker's DHT finds near this many random keys before the
   * pings (0 or absent: only nodes registered otherwise are pinged). Needs a worker with a DHT.
   */
  discover: z.number().int().min(0).max(64).optional()
})

export const pingSchema = z.strictObject({
  nodeId,
  tick,
  policy: keepalivePolicySchema
})

export const auditTickSchema = z.strictObject({
  everyMs: z.number().int().min(1000).max(30 * 24 * 3600 * 1000)
})

export const auditFileSchema = z.strictObject({
  capability: verifyCapability,
  tick,
  /** Pieces sampled per segment, Merkle leaves per piece. */
  samplePerSegment: z.number().int().min(1).max(256).optional(),
  leavesPerPiece: z.number().int().min(1).max(64).optional()
})

export const repairSegmentSchema = z.strictObject({
  capability: verifyCapability,
  segment: z.number().int().nonnegative().max(1 << 24),
  /** Good pieces when queued (lower first: the job's priority derives from it). */
  good: z.number().int().nonnegative().max(1024).optional()
})

/** Degraded segments of one aligned range of REPAIR_BATCH_SEGMENTS (job-ids.ts), repaired by one job. */
export const repairSegmentsSchema = z.strictObject({
  capability: verifyCapability,
  segments: z.array(z.number().int().nonnegative().max(1 << 24)).min(1).max(REPAIR_BATCH_SEGMENTS)
    .refine(list => list.every((s, i) => i === 0 || s > (list[i - 1] as number)), 'must be in increasing order, without repeats')
    .refine(list => list.every(s => Math.floor(s / REPAIR_BATCH_SEGMENTS) === Math.floor((list[0] as number) / REPAIR_BATCH_SEGMENTS)), `must lie in one aligned range of ${REPAIR_BATCH_SEGMENTS} segments`),
  /** Fewest good pieces among them when queued (the job's priority derives from it). */
  good: z.number().int().nonnegative().max(1024).optional()
})

export const repairCheckSchema = z.strictObject({
  capability: verifyCapability
})

/** The periodic health check of every registered file (fans out repair-check jobs). */
export const checkTickSchema = z.strictObject({
  everyMs: z.number().int().min(1000).max(30 * 24 * 3600 * 1000)
})

/** Largest inline upload (base64 text): a ConfigMap or Secret holds at most 1 MiB. */
export const MAX_INLINE_BASE64 = 1_400_000

/**
 * An upload (the controller's): the bytes inline (small files, ConfigMap or Secret data), from an
 * http(s) URL the worker streams, or a path on the worker's filesystem. The worker creates the
 * file's key, so the read capability exists only in the worker's memory until it is sealed to
 * `recipient` (the controller's X25519 key, crypto/sealed-box.ts): the job result carries the
 * sealed box and the verify capability, never the key.
 */
export const uploadFileSchema = z.strictObject({
  source: z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('inline'), base64: z.string().max(MAX_INLINE_BASE64).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64') }),
    z.strictObject({ kind: z.literal('url'), url: z.string().max(4096).regex(/^https?:\/\/[^\s]+$/, 'must be an http or https URL') }),
    z.strictObject({ kind: z.literal('path'), path: z.string().min(1).max(4096) })
  ]),
  /** Name sealed in the manifest and shown on the dashboard. */
  name: z.string().max(256).optional(),
  dataShards: z.number().int().min(1).max(24).optional(),
  parityShards: z.number().int().min(1).max(6).optional(),
  repairThreshold: z.number().int().min(1).max(30).optional(),
  /** base64url raw X25519 public key the read capability is sealed to. */
  recipient: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a base64url 32-byte X25519 public key'),
  /** Who asked: namespace/name of a StoredFile, for the controller's bookkeeping. */
  owner: z.string().max(512).optional()
})

/** Removes a file's pieces (and manifest copies) from every holder: signed by the worker's identity, the owner of what it uploaded. */
export const deleteFileSchema = z.strictObject({
  capability: verifyCapability,
  owner: z.string().max(512).optional()
})

/** queue → job name → payload schema. A job name not listed here is unknown and fails unrecoverably. */
export const JOB_SCHEMAS = {
  keepalive: { 'keepalive-tick': keepaliveTickSchema, ping: pingSchema },
  audit: { 'audit-tick': auditTickSchema, 'audit-file': auditFileSchema },
  repair: { 'check-tick': checkTickSchema, 'repair-check': repairCheckSchema, 'repair-segment': repairSegmentSchema, 'repair-segments': repairSegmentsSchema },
  upload: { 'upload-file': uploadFileSchema, 'delete-file': deleteFileSchema }
} as const satisfies Record<QueueName, Record<string, z.ZodType>>

export type JobName<Q extends QueueName> = keyof typeof JOB_SCHEMAS[Q] & string
export type PayloadOf<Q extends QueueName, N extends JobName<Q>> = z.infer<(typeof JOB_SCHEMAS)[Q][N]>

/** A validated job of queue Q: its name narrows its data. */
export type TypedJob<Q extends QueueName> = { [N in JobName<Q>]: { name: N, data: PayloadOf<Q, N> } }[JobName<Q>]

/**
 * Validates a job read from queue `queue`. Throws JobPayloadError naming the queue, the job name
 * and every bad field; the message never echoes field values (they could be anything, keys included).
 */
export function parseJob<Q extends QueueName> (queue: Q, name: string, data: unknown): TypedJob<Q> {
  const schemas = JOB_SCHEMAS[queue] as Record<string, z.ZodType>
  if (!Object.hasOwn(schemas, name)) {
    throw new JobPayloadError(`Unknown job ${JSON.stringify(name.slice(0, 80))} on queue ${queue} (known: ${Object.keys(schemas).join(', ')})`, { details: { queue, name: name.slice(0, 80) } })
  }
  const parsed = schemas[name]!.safeParse(data)
  if (!parsed.success) {
    const issues = parsed.error.issues.map(i => `${i.path.join('.') || '(root)'}: ${i.message}`).slice(0, 10)
    throw new JobPayloadError(`Malformed ${queue}/${name} job: ${issues.join('; ')}`, { details: { queue, name, issues } })
  }
  return { name, data: parsed.data } as TypedJob<Q>
}

import type { Redis } from 'ioredis'
import { raceSignal, type AbortOptions } from '../core/abort.js'
import { InvalidArgumentError } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import { fileRecordSchema, withAudit, withFileFacts, withHealth, withRepair, type AuditOutcome, type FileFacts, type FileRecord, type RepairOutcome, type SegmentHealth } from './file-state.js'
import { VersionedRecords } from './versioned-records.js'

/**
 * The file registry in Redis: the stored files the durability loop audits and repairs, by
 * manifest id, with their last health check, audit and repairs (file-state.ts).
 *   <prefix>:registry:files             set of manifest ids
 *   <prefix>:registry:file:<manifest>   hash { v, record: JSON of FileRecord }
 * Only verify capabilities are kept: a key never reaches Redis.
 */
export interface FileRegistryInit {
  redis: Redis
  /** Key prefix. @defaultValue 'batchain' */
  prefix?: string
  now?: () => number
  logger?: Logger
}

const HEX64 = /^[0-9a-f]{64}$/

export class FileRegistry {
  private readonly records: VersionedRecords<FileRecord>
  private readonly now: () => number
  private readonly redis: Redis
  private readonly prefix: string

  constructor (init: FileRegistryInit) {
    this.redis = init.redis
    this.prefix = init.prefix ?? 'batchain'
    this.records = new VersionedRecords<FileRecord>({ redis: init.redis, prefix: init.prefix ?? 'batchain', name: 'file', schema: fileRecordSchema, idOf: r => r.manifestId, idPattern: HEX64, logger: init.logger })
    this.now = init.now ?? Date.now
  }

  async get (manifestId: string, options: AbortOptions = {}): Promise<FileRecord | undefined> {
    return await this.records.get(manifestId, options)
  }

  async list (options: AbortOptions = {}): Promise<FileRecord[]> {
    return await this.records.list(options)
  }

  async ids (options: AbortOptions = {}): Promise<string[]> {
    return await this.records.ids(options)
  }

  /** Registers a file or refreshes its facts; history (audits, repairs, health) stays. */
  async register (facts: FileFacts, options: AbortOptions = {}): Promise<FileRecord> {
    const now = this.now()
    return (await this.records.update(facts.manifestId, existing => withFileFacts(existing, facts, now), options))!
  }

  async recordAudit (manifestId: string, outcome: AuditOutcome, options: AbortOptions = {}): Promise<FileRecord | undefined> {
    return await this.records.update(manifestId, r => r === undefined ? undefined : withAudit(r, outcome), options)
  }

  /** Records a health check: per segment good pieces and states, and pieces per holder node. */
  async recordHealth (manifestId: string, segments: readonly SegmentHealth[], nodes: Readonly<Record<string, number>>, options: AbortOptions & { tookMs?: number } = {}): Promise<FileRecord | undefined> {
    const at = this.now()
    return await this.records.update(manifestId, r => r === undefined ? undefined : withHealth(r, segments, nodes, at, options.tookMs), options)
  }

  async recordRepair (manifestId: string, outcome: RepairOutcome, options: AbortOptions = {}): Promise<FileRecord | undefined> {
    return await this.records.update(manifestId, r => r === undefined ? undefined : withRepair(r, outcome), options)
  }

  /** Records the repairs of several segments in one update. */
  async recordRepairs (manifestId: string, outcomes: readonly RepairOutcome[], options: AbortOptions = {}): Promise<FileRecord | undefined> {
    return await this.records.update(manifestId, r => r === undefined ? undefined : outcomes.reduce(withRepair, r), options)
  }

  async remove (manifestId: string, options: AbortOptions = {}): Promise<boolean> {
    const record = await this.records.get(manifestId, options).catch(() => undefined)
    if (record?.uploadJobId !== undefined) await raceSignal(this.redis.del(this.uploadKey(record.uploadJobId)), options.signal)
    return await this.records.remove(manifestId, options)
  }

  private uploadKey (jobId: string): string {
    if (!/^[A-Za-z0-9._-]{1,200}$/.test(jobId)) throw new InvalidArgumentError('upload job id has the wrong shape')
    return `${this.prefix}:registry:upload:${jobId}`
  }

  /**
   * Keeps an upload job's result (verify capability, sealed read capability, sizes) for as long as
   * the file is registered, under the job's id: BullMQ drops finished jobs after a while, and a
   * controller that comes back after that must still find what its upload produced instead of
   * storing the file again.
   */
  async recordUpload (jobId: string, result: { manifestId: string } & Record<string, unknown>, options: AbortOptions = {}): Promise<void> {
    await raceSignal(this.redis.set(this.uploadKey(jobId), JSON.stringify(result)), options.signal)
    await this.records.update(result.manifestId, r => r === undefined ? undefined : { ...r, uploadJobId: jobId }, options)
  }

  /** The result recorded for an upload job id (undefined when none or unreadable). */
  async uploadResult (jobId: string, options: AbortOptions = {}): Promise<Record<string, unknown> | undefined> {
    const json = await raceSignal(this.redis.get(this.uploadKey(jobId)), options.signal)
    if (json === null) return undefined
    try {
      const value = JSON.parse(json) as unknown
      return typeof value === 'object' && value !== null && typeof (value as { manifestId?: unknown }).manifestId === 'string' ? value as Record<string, unknown> : undefined
    } catch {
      return undefined
    }
  }
}

import type { Redis } from 'ioredis'
import type { AbortOptions } from '../core/abort.js'
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

  constructor (init: FileRegistryInit) {
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

  async remove (manifestId: string, options: AbortOptions = {}): Promise<boolean> {
    return await this.records.remove(manifestId, options)
  }
}

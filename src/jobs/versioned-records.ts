import type { Redis } from 'ioredis'
import type { z } from 'zod'
import { raceSignal, sleep, type AbortOptions } from '../core/abort.js'
import { BatchainError, InvalidArgumentError, RegistryCorruptError } from '../core/errors.js'
import type { Logger } from '../core/logger.js'

/**
 * A set of JSON records in Redis, each updated by compare-and-set: the storage under both
 * registries (nodes and files).
 *
 * Layout, for a collection `<name>` under `<prefix>`:
 *   <prefix>:registry:<name>s        set of ids
 *   <prefix>:registry:<name>:<id>    hash { v: version, record: JSON }
 *
 * Every change is a read → pure transition → compare-and-set write: a Lua script writes only when
 * the version is still the one read, otherwise the change is applied again to the fresh record.
 * WATCH/MULTI would do the same but needs a connection of its own per update (WATCH is per
 * connection and processors share one); the script works on a shared connection. So two workers
 * that finish a ping and an audit of the same node at the same moment lose neither.
 *
 * Records are validated on every read (Redis is shared: a bad record must not poison a worker); a
 * corrupt one is RegistryCorruptError for get/update and is skipped (logged) by list.
 */
export interface VersionedRecordsInit<T extends { [k: string]: unknown }> {
  redis: Redis
  prefix: string
  /** Collection name: keys are <prefix>:registry:<name>s and <prefix>:registry:<name>:<id>. */
  name: string
  schema: z.ZodType<T>
  /** The id a record must carry (checked on read and write). */
  idOf: (record: T) => string
  /** Ids are checked against this before they become part of a key. */
  idPattern: RegExp
  logger?: Logger
}

/** KEYS[1] record hash, KEYS[2] id set; ARGV: expected version, new version, record JSON, id. */
const CAS_SCRIPT = `
local v = redis.call('HGET', KEYS[1], 'v')
if (v or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'record', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
return 1
`

/**
 * Compare-and-set rounds before giving up. Under contention only one writer wins a round, so the
 * losers back off (random, growing) instead of retrying in lockstep; 50 writers to one record
 * all succeed (test/unit/jobs/versioned-records.test.ts).
 */
const MAX_CAS_ATTEMPTS = 100

export class VersionedRecords<T extends { [k: string]: unknown }> {
  constructor (private readonly init: VersionedRecordsInit<T>) {}

  key (id: string): string {
    if (!this.init.idPattern.test(id)) throw new InvalidArgumentError(`${this.init.name} id has the wrong shape`)
    return `${this.init.prefix}:registry:${this.init.name}:${id}`
  }

  get setKey (): string { return `${this.init.prefix}:registry:${this.init.name}s` }

  private parse (id: string, json: string): T {
    let value: unknown
    try { value = JSON.parse(json) } catch { throw new RegistryCorruptError(`Registry record of ${this.init.name} ${id.slice(0, 16)}… is not JSON`) }
    const parsed = this.init.schema.safeParse(value)
    if (!parsed.success || this.init.idOf(parsed.data) !== id) throw new RegistryCorruptError(`Registry record of ${this.init.name} ${id.slice(0, 16)}… is malformed`)
    return parsed.data
  }

  /** The record and its version ('0' when absent). */
  async read (id: string, options: AbortOptions = {}): Promise<{ record: T | undefined, version: string }> {
    const [v, json] = await raceSignal(this.init.redis.hmget(this.key(id), 'v', 'record'), options.signal)
    if (v === null || v === undefined || json === null || json === undefined) return { record: undefined, version: '0' }
    return { record: this.parse(id, json), version: v }
  }

  async get (id: string, options: AbortOptions = {}): Promise<T | undefined> {
    return (await this.read(id, options)).record
  }

  async ids (options: AbortOptions = {}): Promise<string[]> {
    return (await raceSignal(this.init.redis.smembers(this.setKey), options.signal)).filter(id => this.init.idPattern.test(id)).sort()
  }

  /** Every record, sorted by id (corrupt ones are logged and left out). */
  async list (options: AbortOptions = {}): Promise<T[]> {
    const ids = await this.ids(options)
    if (ids.length === 0) return []
    const pipeline = this.init.redis.pipeline()
    for (const id of ids) pipeline.hget(this.key(id), 'record')
    const replies = (await raceSignal(pipeline.exec(), options.signal)) ?? []
    const out: T[] = []
    ids.forEach((id, i) => {
      const [err, json] = replies[i] ?? [null, null]
      if (err !== null || typeof json !== 'string') return
      try {
        out.push(this.parse(id, json))
      } catch (e) {
        this.init.logger?.warn({ [this.init.name]: id, err: (e as Error).message }, 'skipping corrupt registry record')
      }
    })
    return out
  }

  /**
   * Applies `change` atomically (compare-and-set, retried on conflict). `change` returns the new
   * record, or undefined to leave it as it is; it may run more than once, so it must be pure.
   */
  async update (id: string, change: (record: T | undefined) => T | undefined, options: AbortOptions = {}): Promise<T | undefined> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const { record, version } = await this.read(id, options)
      const next = change(record)
      if (next === undefined) return record
      if (this.init.idOf(next) !== id) throw new InvalidArgumentError(`a registry update must not change the ${this.init.name} id`)
      const checked = this.init.schema.safeParse(next)
      if (!checked.success) throw new InvalidArgumentError(`refusing to write a malformed ${this.init.name} record: ${checked.error.issues.map(i => `${i.path.join('.')}: ${i.message}`).slice(0, 5).join('; ')}`)
      const ok = await raceSignal(this.init.redis.eval(CAS_SCRIPT, 2, this.key(id), this.setKey, version, String(Number(version) + 1), JSON.stringify(checked.data), id), options.signal)
      if (ok === 1) return checked.data
      await sleep(Math.random() * Math.min(50, 1 + attempt * 2), options)
    }
    throw new BatchainError(`Registry record of ${this.init.name} ${id.slice(0, 16)}… kept changing; gave up after ${MAX_CAS_ATTEMPTS} attempts`)
  }

  async remove (id: string, options: AbortOptions = {}): Promise<boolean> {
    const key = this.key(id)
    const [[, removed] = [null, 0]] = (await raceSignal(this.init.redis.multi().srem(this.setKey, id).del(key).exec(), options.signal)) ?? []
    return removed === 1
  }
}

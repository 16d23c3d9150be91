import type { JobType, Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import { deadlineSignal, raceSignal } from '../core/abort.js'
import { second } from '../core/constants.js'
import { BatchainError, RedisUnavailableError, errorMessage } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import { FileRegistry } from '../jobs/file-registry.js'
import type { FileRecord } from '../jobs/file-state.js'
import type { NodeRecord } from '../jobs/node-state.js'
import type { QueueName } from '../jobs/payloads.js'
import { NodeRegistry } from '../jobs/registry.js'
import type { ReputationPolicy } from '../jobs/reputation.js'
import type { QueueCounts } from './models.js'

/**
 * Reads what the pages show: the registries' records and the queues' job counts, each read under a
 * deadline so a page answers (503) instead of hanging while Redis is down. Nothing is cached:
 * concurrent requests for the records share one read, and every page shows Redis as it is now.
 */
export interface DashboardDataInit {
  /** A `client`-role connection (createRedis), owned by the caller. */
  redis: Redis
  queues: ReadonlyMap<QueueName, Queue>
  prefix: string
  reputation: ReputationPolicy
  /** Deadline of one read. */
  timeoutMs: number
  logger?: Logger
}

/** Job states counted per queue (BullMQ's getJobCounts). */
export const COUNTED_JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const satisfies readonly JobType[]

export interface Records {
  nodes: NodeRecord[]
  files: FileRecord[]
}

export class DashboardData {
  readonly nodes: NodeRegistry
  readonly files: FileRegistry
  private records: Promise<Records> | undefined

  constructor (private readonly init: DashboardDataInit) {
    this.nodes = new NodeRegistry({ redis: init.redis, prefix: init.prefix, reputation: init.reputation, logger: init.logger })
    this.files = new FileRegistry({ redis: init.redis, prefix: init.prefix, logger: init.logger })
  }

  get reputation (): ReputationPolicy { return this.init.reputation }

  /** Every node and file record (concurrent callers share one read). */
  async all (): Promise<Records> {
    this.records ??= this.guarded('the registries', async signal => {
      const [nodes, files] = await Promise.all([this.nodes.list({ signal }), this.files.list({ signal })])
      return { nodes, files }
    }).finally(() => { this.records = undefined })
    return await this.records
  }

  async file (manifestId: string): Promise<FileRecord | undefined> {
    return await this.guarded('the file registry', async signal => await this.files.get(manifestId, { signal }))
  }

  /** Job counts by state of every queue. */
  async queueCounts (): Promise<Partial<Record<QueueName, QueueCounts>>> {
    return await this.guarded('the queues', async signal => {
      const entries = await Promise.all([...this.init.queues].map(async ([name, queue]) => [name, await raceSignal(queue.getJobCounts(...COUNTED_JOB_STATES), signal)] as const))
      return Object.fromEntries(entries)
    })
  }

  /** PING within `timeoutMs`; never throws. */
  async ping (timeoutMs: number): Promise<{ ok: true, latencyMs: number } | { ok: false, error: string }> {
    const started = performance.now()
    try {
      await this.guarded('Redis', async signal => await raceSignal(this.init.redis.ping(), signal), timeoutMs)
      return { ok: true, latencyMs: Math.round((performance.now() - started) * 1000) / 1000 }
    } catch (err) {
      return { ok: false, error: errorMessage(err) }
    }
  }

  /**
   * Runs a read under a deadline, once the connection is ready (waiting at most a second for a
   * connection being made; one that is waiting to reconnect means Redis is down: fail at once).
   * Connection failures and timeouts become RedisUnavailableError; our own errors pass through.
   */
  private async guarded<T> (what: string, read: (signal: AbortSignal) => Promise<T>, timeoutMs = this.init.timeoutMs): Promise<T> {
    const deadline = deadlineSignal(undefined, timeoutMs)
    try {
      await this.ready(Math.min(timeoutMs, second), deadline.signal)
      return await read(deadline.signal)
    } catch (err) {
      if (err instanceof BatchainError && !(err.code === 'BATCHAIN_ERR_TIMEOUT' || err.code === 'BATCHAIN_ERR_ABORTED')) throw err
      throw new RedisUnavailableError(`Cannot read ${what}: ${errorMessage(err)}`, { cause: err })
    } finally {
      deadline.clear()
    }
  }

  private async ready (waitMs: number, signal: AbortSignal): Promise<void> {
    const redis = this.init.redis
    if (redis.status === 'ready') return
    // Waiting out a reconnect delay (up to 5 s) only to fail: Redis is down, say so now.
    if (redis.status === 'reconnecting' || redis.status === 'close' || redis.status === 'end') throw new RedisUnavailableError(`Redis is not connected (${redis.status})`)
    let onReady: (() => void) | undefined
    const wait = deadlineSignal(signal, waitMs)
    try {
      await raceSignal(new Promise<void>(resolve => { onReady = resolve; redis.once('ready', onReady) }), wait.signal)
    } catch {
      throw new RedisUnavailableError(`Redis is not connected (${redis.status})`)
    } finally {
      wait.clear()
      if (onReady !== undefined) redis.off('ready', onReady)
    }
  }
}

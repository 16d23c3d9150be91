import { Queue, type JobsOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import { sleep, throwIfAborted, type AbortOptions } from '../core/abort.js'
import { minute, second } from '../core/constants.js'
import { InvalidArgumentError, RedisUnavailableError, errorMessage } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import { closeRedis, createRedis, redisOptions, reconnectDelay } from './connection.js'
import { auditDedupId, auditJobId, pingDedupId, pingJobId, repairBatchDedupId, repairBatchJobs, repairBatchOf, repairCheckDedupId, repairCheckJob } from './job-ids.js'
import { parseJob, type JobName, type KeepalivePolicy, type PayloadOf, type QueueName } from './payloads.js'

/**
 * Adds jobs: the only way our code puts work on a queue. Every payload is validated against its
 * queue's schema before it reaches Redis (a bad payload is a bug of the caller: JobPayloadError at
 * once), and every job gets its queue's retry policy and its deduplication rule (job-ids.ts).
 */

/** Retries and retention per queue. Attempts count the first run; backoff doubles from `delay`. */
export const QUEUE_JOB_DEFAULTS: Record<QueueName, JobsOptions> = {
  // A ping that fails is data (a miss), not a job failure; only Redis trouble fails one.
  keepalive: { attempts: 3, backoff: { type: 'exponential', delay: second }, removeOnComplete: { count: 1000, age: 3600 }, removeOnFail: { count: 1000, age: 24 * 3600 } },
  audit: { attempts: 3, backoff: { type: 'exponential', delay: 5 * second }, removeOnComplete: { count: 1000, age: 24 * 3600 }, removeOnFail: { count: 5000, age: 7 * 24 * 3600 } },
  repair: { attempts: 5, backoff: { type: 'exponential', delay: 5 * second }, removeOnComplete: { count: 1000, age: 24 * 3600 }, removeOnFail: { count: 5000, age: 7 * 24 * 3600 } },
  upload: { attempts: 3, backoff: { type: 'exponential', delay: 10 * second }, removeOnComplete: { count: 1000, age: 7 * 24 * 3600 }, removeOnFail: { count: 5000, age: 7 * 24 * 3600 } }
}

export interface JobProducerInit {
  /** redis:// URL. */
  redis: string
  /** BullMQ key prefix. @defaultValue 'batchain' */
  prefix?: string
  /** How long enqueue() keeps retrying while Redis is unreachable. @defaultValue 1 min */
  retryForMs?: number
  logger?: Logger
}

export interface EnqueueResult {
  /** The job's id (the existing job's when the add was deduplicated). */
  id: string
}

/** Errors of an add that are worth retrying: the connection, not the request. */
function isConnectionError (err: unknown): boolean {
  const message = errorMessage(err)
  const code = (err as { code?: unknown } | null)?.code
  return /enableOfflineQueue|Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|LOADING|Socket closed unexpectedly/i.test(message) ||
    code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT'
}

export class JobProducer {
  readonly prefix: string
  private readonly queues = new Map<QueueName, Queue>()
  private readonly init: JobProducerInit
  private closed = false
  private redis: Redis | undefined

  constructor (init: JobProducerInit) {
    this.init = init
    this.prefix = init.prefix ?? 'batchain'
    redisOptions({ url: init.redis, role: 'producer' }) // validates the URL now, not at the first add
  }

  /** The BullMQ Queue of a name (created on first use, producer connection settings). */
  queue (name: QueueName): Queue {
    let queue = this.queues.get(name)
    if (queue === undefined) {
      queue = new Queue(name, { connection: this.connection(), prefix: this.prefix, defaultJobOptions: QUEUE_JOB_DEFAULTS[name] })
      // Without a listener an 'error' event would throw; connection trouble surfaces through add().
      queue.on('error', err => { this.init.logger?.debug({ queue: name, err: errorMessage(err) }, 'queue connection error') })
      this.queues.set(name, queue)
    }
    return queue
  }

  /**
   * Validates and adds one job. While Redis is unreachable (producer connections have no offline
   * queue) it retries with backoff for up to `retryForMs`, then throws RedisUnavailableError.
   */
  async add<Q extends QueueName, N extends JobName<Q>> (queue: Q, name: N, data: PayloadOf<Q, N>, opts: JobsOptions = {}, options: AbortOptions = {}): Promise<EnqueueResult> {
    if (this.closed) throw new RedisUnavailableError('The job producer is closed')
    parseJob(queue, name, data)
    const deadline = Date.now() + (this.init.retryForMs ?? minute)
    for (let attempt = 1; ; attempt++) {
      throwIfAborted(options.signal)
      try {
        const job = await this.queue(queue).add(name, data, opts)
        return { id: job.id ?? '' }
      } catch (err) {
        if (!isConnectionError(err)) throw err
        const wait = reconnectDelay(attempt, 2 * second)
        if (Date.now() + wait > deadline) throw new RedisUnavailableError(`Cannot add ${queue}/${name}: Redis unreachable (${errorMessage(err)})`, { cause: err })
        this.init.logger?.warn({ queue, name, attempt, err: errorMessage(err) }, 'Redis unreachable; retrying the add')
        await sleep(wait, options)
      }
    }
  }

  /** One keepalive ping of a node for a tick (deduplicated per node and tick, one pending per node). */
  async enqueuePing (nodeId: string, tick: number, policy: KeepalivePolicy, options: AbortOptions = {}): Promise<EnqueueResult> {
    return await this.add('keepalive', 'ping', { nodeId, tick, policy }, pingJobOptions(nodeId, tick), options)
  }

  /** One audit of a file for a tick (a verify capability; deduplicated per file and tick, one pending per file). */
  async enqueueAudit (capability: string, manifestId: string, tick: number, options: AbortOptions = {}): Promise<EnqueueResult> {
    return await this.add('audit', 'audit-file', { capability, tick }, { jobId: auditJobId(manifestId, tick), deduplication: { id: auditDedupId(manifestId) } }, options)
  }

  /** A repair of one segment, worst first; never two pending for the same segment (one per aligned range, see repairBatchJobs). */
  async enqueueRepair (capability: string, manifestId: string, segment: number, good: number, options: AbortOptions = {}): Promise<EnqueueResult> {
    const [job] = repairBatchJobs(capability, [{ index: segment, good }])
    if (job === undefined || job.opts.deduplication.id !== repairBatchDedupId(manifestId, repairBatchOf(segment))) throw new InvalidArgumentError('manifest id and capability disagree')
    return await this.add('repair', 'repair-segments', job.data, job.opts, options)
  }

  /** A health check of one file (its degraded segments get repair jobs); one pending per file. */
  async enqueueRepairCheck (capability: string, manifestId: string, options: AbortOptions = {}): Promise<EnqueueResult> {
    const job = repairCheckJob(capability)
    if (job.opts.deduplication.id !== repairCheckDedupId(manifestId)) throw new InvalidArgumentError('manifest id and capability disagree')
    return await this.add('repair', job.name, job.data, job.opts, options)
  }

  /**
   * One producer connection shared by this producer's queues, owned by us rather than by BullMQ:
   * BullMQ closes a connection it created with QUIT, which fails on a connection without an
   * offline queue that is reconnecting (Redis restarting), and then leaves it reconnecting forever
   * with no error listener. closeRedis() disconnects in that case.
   */
  private connection (): Redis {
    if (this.redis === undefined) {
      const redis = createRedis({ url: this.init.redis, role: 'producer', name: 'batchain-producer' })
      redis.on('error', err => { this.init.logger?.debug({ err: errorMessage(err) }, 'producer connection error') })
      this.redis = redis
    }
    return this.redis
  }

  async close (): Promise<void> {
    this.closed = true
    const queues = [...this.queues.values()]
    this.queues.clear()
    await Promise.all(queues.map(async q => { await q.close().catch(() => {}) }))
    if (this.redis !== undefined) await closeRedis(this.redis)
  }
}

/** Job options of a ping: its id names node and tick; the dedup id keeps one pending per node. */
export function pingJobOptions (nodeId: string, tick: number): JobsOptions {
  return { jobId: pingJobId(nodeId, tick), deduplication: { id: pingDedupId(nodeId) } }
}

import type { JobsOptions } from 'bullmq'
import { sleep, type AbortOptions } from '../core/abort.js'
import { second } from '../core/constants.js'
import { InvalidArgumentError, errorCode, errorMessage } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import { formatContact, PieceClient, type Contact } from '../transfer/index.js'
import { closeRedis, createRedis, reconnectDelay } from './connection.js'
import { DEFAULT_AUDIT_EVERY_MS, DEFAULT_CHECK_EVERY_MS, DEFAULT_KEEPALIVE_EVERY_MS, DEFAULT_KEEPALIVE_POLICY } from './defaults.js'
import { SCHEDULER_IDS } from './job-ids.js'
import { startLeaderElection, type LeaderElection } from './leader.js'
import { keepalivePolicySchema, type KeepalivePolicy } from './payloads.js'
import { JobProducer, QUEUE_JOB_DEFAULTS } from './producer.js'
import { NodeRegistry } from './registry.js'

/**
 * The scheduler process: campaigns for the leader lock (leader.ts) and, while it leads, owns the
 * job schedulers (BullMQ upsertJobScheduler) and registers the seed nodes it was given. Any number
 * of schedulers may run; only the leader writes schedules, and a standby takes over within a lock
 * ttl when the leader dies. Schedules live in Redis, so a new leader re-upserting them with the
 * same ids changes nothing unless the configuration changed.
 */
export interface SchedulerInit {
  /** redis:// URL. */
  redis: string
  /** BullMQ and registry key prefix. @defaultValue 'batchain' */
  prefix?: string
  keepalive?: {
    /** Period of the keepalive tick. @defaultValue 30 s */
    everyMs?: number
    /** @defaultValue { missesToOffline: 3, graceMs: 10 min, pingTimeoutMs: 10 s } */
    policy?: Partial<KeepalivePolicy>
  }
  /** Period of the audit tick (every registered file is audited once per period). @defaultValue 1 h */
  auditEveryMs?: number
  /** Period of the health check of every registered file (degraded segments are repaired). @defaultValue 5 min */
  checkEveryMs?: number
  /**
   * Random DHT keys a keepalive tick looks around to register storage nodes (workers with a DHT
   * do it). 0 when nodes come only from `seeds` and from holders that checks find. @defaultValue 0
   */
  discover?: number
  /** Storage nodes to register (their ids are learnt by pinging them; unreachable ones are retried). */
  seeds?: readonly Contact[]
  /** Leader lock settings. */
  lock?: { key?: string, ttlMs?: number, renewEveryMs?: number }
  logger?: Logger
  /** Progress for a CLI or a test: one call per event, in order. */
  onEvent?: (event: SchedulerEvent) => void
}

export type SchedulerEvent =
  | { event: 'standby', token: string }
  | { event: 'leader', token: string }
  | { event: 'scheduled', scheduler: string, everyMs: number, policy?: KeepalivePolicy }
  | { event: 'registered', nodeId: string, contact: string }
  | { event: 'demoted', reason: string }

export interface RunningScheduler {
  readonly token: string
  isLeader: () => boolean
  stop: () => Promise<void>
}

// Defined in defaults.ts (the CLI reads them without loading this module); exported here too.
export { DEFAULT_AUDIT_EVERY_MS, DEFAULT_CHECK_EVERY_MS, DEFAULT_KEEPALIVE_EVERY_MS, DEFAULT_KEEPALIVE_POLICY }

export async function startScheduler (init: SchedulerInit): Promise<RunningScheduler> {
  const everyMs = init.keepalive?.everyMs ?? DEFAULT_KEEPALIVE_EVERY_MS
  if (!Number.isInteger(everyMs) || everyMs < 100) throw new InvalidArgumentError(`keepalive period must be at least 100 ms, got ${everyMs}`)
  const parsedPolicy = keepalivePolicySchema.safeParse({ ...DEFAULT_KEEPALIVE_POLICY, ...init.keepalive?.policy })
  if (!parsedPolicy.success) throw new InvalidArgumentError(`Invalid keepalive policy: ${parsedPolicy.error.issues.map(i => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  const policy = parsedPolicy.data
  const auditEveryMs = init.auditEveryMs ?? DEFAULT_AUDIT_EVERY_MS
  const checkEveryMs = init.checkEveryMs ?? DEFAULT_CHECK_EVERY_MS
  if (!Number.isInteger(auditEveryMs) || auditEveryMs < second) throw new InvalidArgumentError(`audit period must be at least 1 s, got ${auditEveryMs}`)
  if (!Number.isInteger(checkEveryMs) || checkEveryMs < second) throw new InvalidArgumentError(`check period must be at least 1 s, got ${checkEveryMs}`)
  const discover = init.discover ?? 0
  if (!Number.isInteger(discover) || discover < 0 || discover > 64) throw new InvalidArgumentError(`discover must be 0..64, got ${discover}`)
  const prefix = init.prefix ?? 'batchain'
  const logger = init.logger
  const emit = (event: SchedulerEvent): void => { init.onEvent?.(event) }

  const redis = createRedis({ url: init.redis, role: 'client', name: 'batchain-scheduler' })
  redis.on('error', err => { logger?.debug({ err: errorMessage(err) }, 'scheduler redis connection error') })
  const producer = new JobProducer({ redis: init.redis, prefix, logger })
  const registry = new NodeRegistry({ redis, prefix, logger })
  const client = new PieceClient({ maxIdlePerPeer: 0, requestTimeout: policy.pingTimeoutMs })
  const tasks = new Set<Promise<void>>()

  const whileLeading = async (signal: AbortSignal): Promise<void> => {
    // Schedules first (retried until they are written or leadership ends), then the seeds.
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        await election.assertLeader({ signal })
        const tickOpts = (q: 'keepalive' | 'audit' | 'repair'): JobsOptions => ({ attempts: QUEUE_JOB_DEFAULTS[q].attempts, backoff: QUEUE_JOB_DEFAULTS[q].backoff, removeOnComplete: QUEUE_JOB_DEFAULTS[q].removeOnComplete, removeOnFail: QUEUE_JOB_DEFAULTS[q].removeOnFail })
        const keepaliveData = discover > 0 ? { everyMs, policy, discover } : { everyMs, policy }
        await producer.queue('keepalive').upsertJobScheduler(SCHEDULER_IDS.keepaliveTick, { every: everyMs }, { name: 'keepalive-tick', data: keepaliveData, opts: tickOpts('keepalive') })
        emit({ event: 'scheduled', scheduler: SCHEDULER_IDS.keepaliveTick, everyMs, policy })
        await election.assertLeader({ signal })
        await producer.queue('audit').upsertJobScheduler(SCHEDULER_IDS.auditTick, { every: auditEveryMs }, { name: 'audit-tick', data: { everyMs: auditEveryMs }, opts: tickOpts('audit') })
        emit({ event: 'scheduled', scheduler: SCHEDULER_IDS.auditTick, everyMs: auditEveryMs })
        await election.assertLeader({ signal })
        await producer.queue('repair').upsertJobScheduler(SCHEDULER_IDS.checkTick, { every: checkEveryMs }, { name: 'check-tick', data: { everyMs: checkEveryMs }, opts: tickOpts('repair') })
        emit({ event: 'scheduled', scheduler: SCHEDULER_IDS.checkTick, everyMs: checkEveryMs })
        logger?.info({ keepaliveEveryMs: everyMs, auditEveryMs, checkEveryMs, discover }, 'job schedulers upserted')
        break
      } catch (err) {
        if (signal.aborted) return
        logger?.warn({ err: errorMessage(err), attempt }, 'could not upsert the job schedulers; retrying')
        await sleep(reconnectDelay(attempt), { signal }).catch(() => {})
      }
    }
    await registerSeeds(init.seeds ?? [], { signal })
  }

  const registerSeeds = async (seeds: readonly Contact[], options: AbortOptions & { signal: AbortSignal }): Promise<void> => {
    const pending = new Map(seeds.map(c => [formatContact(c), c]))
    for (let attempt = 1; pending.size > 0 && !options.signal.aborted; attempt++) {
      for (const [text, contact] of pending) {
        try {
          const { nodeId } = await client.ping(contact, options)
          await registry.register({ nodeId, piece: { host: contact.host, port: contact.port } }, options)
          pending.delete(text)
          emit({ event: 'registered', nodeId, contact: text })
        } catch (err) {
          if (options.signal.aborted) return
          logger?.warn({ contact: text, err: errorCode(err) }, 'seed node not reachable; retrying')
        }
      }
      if (pending.size > 0) await sleep(Math.min(everyMs, reconnectDelay(attempt, 30 * second)), options).catch(() => {})
    }
  }

  let announcedStandby = false
  const election: LeaderElection = startLeaderElection({
    redis,
    key: init.lock?.key ?? `${prefix}:leader:schedulers`,
    ttlMs: init.lock?.ttlMs,
    renewEveryMs: init.lock?.renewEveryMs,
    logger,
    onElected: signal => {
      emit({ event: 'leader', token: election.token })
      const task = whileLeading(signal).catch(err => { logger?.error({ err: errorMessage(err) }, 'scheduler leader task failed') })
      tasks.add(task)
      void task.finally(() => tasks.delete(task))
    },
    // Tell a watcher (CLI, test) once that we campaign but another process leads.
    onStandby: () => {
      if (!announcedStandby) { announcedStandby = true; emit({ event: 'standby', token: election.token }) }
    },
    onDemoted: reason => { announcedStandby = false; emit({ event: 'demoted', reason }) }
  })
  let stopping: Promise<void> | undefined
  return {
    token: election.token,
    isLeader: () => election.isLeader(),
    stop: async () => {
      stopping ??= (async () => {
        await election.stop()
        await Promise.all([...tasks])
        client.close()
        await producer.close()
        await closeRedis(redis)
      })()
      await stopping
    }
  }
}

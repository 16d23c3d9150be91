import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import { QueueEvents } from 'bullmq'
import { makeInformer, type KubernetesObject } from '@kubernetes/client-node'
import { sleep } from '../core/abort.js'
import type { Logger } from '../core/logger.js'
import type { SealKeys } from '../crypto/sealed-box.js'
import { bullConnection, closeRedis, createRedis } from '../jobs/connection.js'
import { FileRegistry } from '../jobs/file-registry.js'
import { JobProducer } from '../jobs/producer.js'
import { startScheduler, type RunningScheduler, type SchedulerInit } from '../jobs/scheduler.js'
import { apiErrorMessage, type KubeClient } from './kube.js'
import { startLeaseElection, type LeaseElection } from './lease.js'
import { Reconciler, keyOf } from './reconciler.js'
import { GROUP, PLURAL, VERSION, type StoredFile } from './status.js'
import { WorkQueue, backoffDelay } from './workqueue.js'

/**
 * The StoredFile controller: an informer (list + watch) feeds keys into a rate-limited work queue;
 * while this process holds the Lease, workers run the reconciler on them and the process owns the
 * job schedules (the durability scheduler and one audit schedule per StoredFile). A standby keeps
 * its informer warm and reconciles nothing.
 */
export interface ControllerInit {
  kube: KubeClient
  redis: string
  prefix?: string
  /** Watch one namespace (default: all). */
  namespace?: string
  sealKeys: SealKeys
  /** Lease holder identity (default hostname-pid-random). */
  identity?: string
  lease: { namespace: string, name: string, durationMs?: number, renewDeadlineMs?: number, retryPeriodMs?: number }
  concurrency?: number
  baseDelayMs?: number
  maxDelayMs?: number
  pollMs?: number
  refreshMs?: number
  fastRefreshMs?: number
  checkEveryMs?: number
  retryFailedAfterMs?: number
  /** A full list every this often (catches anything a watch missed). @defaultValue 5 min */
  relistMs?: number
  /** The durability scheduler's settings while leading; false: do not run it. */
  scheduler?: Omit<SchedulerInit, 'redis' | 'prefix' | 'logger' | 'onEvent'> | false
  logger?: Logger
  onEvent?: (event: Record<string, unknown>) => void
}

export interface RunningController {
  readonly identity: string
  isLeader: () => boolean
  /** Reconcile runs so far. */
  reconciles: () => number
  stop: () => Promise<void>
}

export async function startController (init: ControllerInit): Promise<RunningController> {
  const identity = init.identity ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`
  const prefix = init.prefix ?? 'batchain'
  const logger = init.logger
  const emit = (event: Record<string, unknown>): void => { init.onEvent?.(event) }
  const producer = new JobProducer({ redis: init.redis, prefix, logger })
  const redis = createRedis({ url: init.redis, role: 'client', name: 'batchain-controller' })
  redis.on('error', () => {})
  const files = new FileRegistry({ redis, prefix, logger })
  /** Job id → key to wake when the job finishes (QueueEvents), bounded by the poll fallback anyway. */
  const jobWaiters = new Map<string, string>()
  const reconciler = new Reconciler({
    kube: init.kube,
    producer,
    files,
    sealKeys: init.sealKeys,
    instance: identity,
    logger,
    pollMs: init.pollMs,
    refreshMs: init.refreshMs,
    fastRefreshMs: init.fastRefreshMs,
    checkEveryMs: init.checkEveryMs,
    retryFailedAfterMs: init.retryFailedAfterMs,
    onEvent: emit,
    watchJob: (jobId, key) => { jobWaiters.set(jobId, key) }
  })
  const queue = new WorkQueue({
    concurrency: init.concurrency ?? 8,
    baseDelayMs: init.baseDelayMs ?? 1000,
    maxDelayMs: init.maxDelayMs ?? 60_000,
    process: async (key, signal) => {
      const started = Date.now()
      const result = await reconciler.reconcile(key, signal)
      emit({ event: 'reconciled', key, ms: Date.now() - started, ...(result?.requeueAfterMs === undefined ? {} : { requeueAfterMs: result.requeueAfterMs }), ...(result?.backoff === true ? { backoff: true } : {}) })
      return result
    },
    onError: (key, err, retryInMs) => {
      logger?.warn({ key, err: apiErrorMessage(err), retryInMs }, 'reconcile failed; retrying')
      emit({ event: 'reconcile-error', key, error: apiErrorMessage(err), retryInMs })
    }
  })

  // ---- informer: list + watch, restarted with backoff, plus a periodic relist -------------------
  const path = init.namespace === undefined
    ? `/apis/${GROUP}/${VERSION}/${PLURAL}`
    : `/apis/${GROUP}/${VERSION}/namespaces/${init.namespace}/${PLURAL}`
  const informer = makeInformer<KubernetesObject>(init.kube.kc, path, async () => await init.kube.listStoredFiles(init.namespace) as never)
  let stopped = false
  let watchFailures = 0
  let restartTimer: NodeJS.Timeout | undefined
  const keyOfRaw = (obj: KubernetesObject): string => keyOf(obj as unknown as StoredFile)
  /**
   * What of an object makes a reconcile necessary: the spec (generation), deletion, finalizers.
   * Our own status writes also arrive as updates; they change none of these and are not queued
   * (the reconcile that wrote them already scheduled its next run).
   */
  const seen = new Map<string, string>()
  const fingerprint = (obj: KubernetesObject): string => JSON.stringify([obj.metadata?.generation, obj.metadata?.deletionTimestamp, obj.metadata?.finalizers, obj.metadata?.uid])
  const enqueue = (obj: KubernetesObject): void => {
    const key = keyOfRaw(obj)
    const print = fingerprint(obj)
    if (seen.get(key) === print) return
    seen.set(key, print)
    queue.add(key)
  }
  informer.on('add', enqueue)
  informer.on('update', enqueue)
  informer.on('delete', obj => {
    seen.delete(keyOfRaw(obj))
    queue.add(keyOfRaw(obj)) // the reconcile finds it gone and forgets it
    reconciler.forget(keyOfRaw(obj))
  })
  informer.on('connect', () => { watchFailures = 0 })
  informer.on('error', (err: unknown) => {
    if (stopped) return
    const delay = backoffDelay(watchFailures++, 500, 30_000)
    logger?.warn({ err: apiErrorMessage(err), retryInMs: delay }, 'watch failed; restarting the informer')
    emit({ event: 'watch-error', error: apiErrorMessage(err), retryInMs: delay })
    clearTimeout(restartTimer)
    restartTimer = setTimeout(() => { informer.start().catch(() => {}) }, delay)
    restartTimer.unref()
  })
  const relist = async (): Promise<void> => {
    const list = await init.kube.listStoredFiles(init.namespace)
    for (const item of list.items) queue.add(keyOf(item))
  }
  const stopAc = new AbortController()
  const relistLoop = (async () => {
    const every = init.relistMs ?? 5 * 60_000
    while (!stopped) {
      await sleep(every, { signal: stopAc.signal }).catch(() => {})
      if (stopped) return
      try { await relist() } catch (err) { logger?.warn({ err: apiErrorMessage(err) }, 'relist failed') }
    }
  })

  // ---- job completion wake-ups ------------------------------------------------------------------
  const events = new QueueEvents('upload', { connection: bullConnection({ url: init.redis, role: 'worker', name: 'batchain-controller-events' }), prefix })
  events.on('error', () => {})
  const wake = ({ jobId }: { jobId: string }): void => {
    const key = jobWaiters.get(jobId)
    if (key === undefined) return
    jobWaiters.delete(jobId)
    queue.add(key)
  }
  events.on('completed', wake)
  events.on('failed', wake)

  // ---- leadership ---------------------------------------------------------------------------------
  let scheduler: RunningScheduler | undefined
  let schedulerStarting: Promise<void> | undefined
  const startDurabilityScheduler = (): void => {
    if (init.scheduler === false) return
    const settings = init.scheduler ?? {}
    schedulerStarting = (async () => {
      try {
        scheduler = await startScheduler({ ...settings, redis: init.redis, prefix, ...(logger === undefined ? {} : { logger }), onEvent: e => { emit({ ...e, event: `scheduler-${e.event}` }) } })
      } catch (err) {
        logger?.warn({ err: apiErrorMessage(err) }, 'could not start the durability scheduler')
      }
    })()
  }
  const stopDurabilityScheduler = async (): Promise<void> => {
    await schedulerStarting
    const s = scheduler
    scheduler = undefined
    await s?.stop()
  }
  const election: LeaseElection = startLeaseElection({
    kube: init.kube,
    namespace: init.lease.namespace,
    name: init.lease.name,
    identity,
    ...(init.lease.durationMs === undefined ? {} : { leaseDurationMs: init.lease.durationMs }),
    ...(init.lease.renewDeadlineMs === undefined ? {} : { renewDeadlineMs: init.lease.renewDeadlineMs }),
    ...(init.lease.retryPeriodMs === undefined ? {} : { retryPeriodMs: init.lease.retryPeriodMs }),
    ...(logger === undefined ? {} : { logger }),
    onStartedLeading: () => {
      emit({ event: 'leader', identity, lease: `${init.lease.namespace}/${init.lease.name}` })
      reconciler.resetLeadership()
      for (const obj of informer.list()) queue.add(keyOfRaw(obj))
      relist().catch(() => {})
      queue.resume()
      startDurabilityScheduler()
    },
    onStoppedLeading: reason => {
      emit({ event: 'demoted', identity, reason })
      queue.pause()
      void stopDurabilityScheduler()
    },
    onNewLeader: holder => { emit({ event: 'standby', identity, holder }) }
  })

  await informer.start().catch((err: unknown) => { logger?.warn({ err: apiErrorMessage(err) }, 'first list failed; retrying') })
  void relistLoop()

  return {
    identity,
    isLeader: () => election.isLeader(),
    reconciles: () => queue.processed,
    stop: async () => {
      stopped = true
      stopAc.abort()
      clearTimeout(restartTimer)
      await informer.stop().catch(() => {})
      await queue.stop()
      await election.stop()
      await stopDurabilityScheduler()
      await events.close().catch(() => {})
      await producer.close()
      await closeRedis(redis)
    }
  }
}

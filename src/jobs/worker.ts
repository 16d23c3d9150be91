import { hostname } from 'node:os'
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq'
import { sleep } from '../core/abort.js'
import { second } from '../core/constants.js'
import { BatchainError, CapabilityLacksKeyError, InvalidArgumentError, InvalidCapabilityError, InvalidManifestError, JobPayloadError, NoProcessorError, RegistryCorruptError, errorCode, errorMessage } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import type { Dht } from '../dht/types.js'
import type { Redis } from 'ioredis'
import { PieceClient } from '../transfer/index.js'
import { bullConnection, closeRedis, createRedis } from './connection.js'
import { processKeepaliveTick, processPing } from './keepalive.js'
import { QUEUE_NAMES, QUEUES_WITH_PROCESSORS, parseJob, type QueueName, type QueueWithProcessor, type TypedJob } from './payloads.js'
import { QUEUE_JOB_DEFAULTS } from './producer.js'
import { NodeRegistry } from './registry.js'
import { FileRegistry } from './file-registry.js'
import { Durability } from './durability.js'
import { processAuditFile, processAuditTick, processCheckTick, processRepairCheck, processRepairSegment, processRepairSegments, type DurabilityJobDeps } from './durability-jobs.js'
import { repairCheckJob } from './job-ids.js'
import type { StorageNetwork } from '../client/index.js'
import type { Identity } from '../crypto/keys.js'
import { processDeleteFile, processUploadFile, type UploadJobDeps } from './upload-jobs.js'

/**
 * BullMQ workers for the durability queues.
 *
 * Stalled-job recovery (what happens to the jobs of a worker that dies):
 * - a worker holds a lock per active job (`lockDurationMs`, renewed every half of it while the
 *   process is alive); a killed worker stops renewing;
 * - every worker checks every `stalledIntervalMs` for active jobs whose lock expired and moves
 *   them back to waiting, where any worker picks them up; a job found stalled more than
 *   `maxStalledCount` times is failed (a job that kills its worker each time must not loop);
 * - so a killed worker's jobs run again elsewhere after at most lockDuration + stalledInterval.
 *   Processors are written for that: each is idempotent (a ping recorded twice counts once per
 *   tick id; repairs check what is already there before writing).
 *
 * Graceful shutdown (close(), on SIGTERM in the CLI): stop taking jobs, let in-flight jobs finish
 * for up to `shutdownGraceMs`; jobs still running then are cancelled through their AbortSignal
 * (they fail and are retried with backoff) and the connection is closed. If even that cannot
 * reach Redis, the jobs are left active and come back through stalled recovery.
 */
export interface WorkersInit {
  /** redis:// URL. */
  redis: string
  /** BullMQ and registry key prefix. @defaultValue 'batchain' */
  prefix?: string
  /** Queues to serve; each must have a processor (QUEUES_WITH_PROCESSORS). @defaultValue all of those this worker can serve (without a network: keepalive) */
  queues?: readonly QueueName[]
  /** Jobs run in parallel per queue. @defaultValue 4 */
  concurrency?: number
  /** Lock per active job. @defaultValue 30 s (BullMQ's default) */
  lockDurationMs?: number
  /** How often this worker looks for stalled jobs. @defaultValue 30 s */
  stalledIntervalMs?: number
  /** Stalls a job survives before it fails. @defaultValue 1 */
  maxStalledCount?: number
  /** How long close() lets in-flight jobs finish. @defaultValue 25 s (under Kubernetes' 30 s) */
  shutdownGraceMs?: number
  /** Recorded as processedBy on every job. @defaultValue hostname:pid */
  name?: string
  /** Finds nodes that moved and discovers new ones (keepalive); optional. */
  dht?: Dht
  /**
   * Where audits and repairs find pieces and place rebuilt ones. Required to serve the audit and
   * repair queues (the worker refuses them without it).
   */
  network?: StorageNetwork
  /**
   * The owner key of what this worker uploads (and so may delete). Required, with a network, to
   * serve the upload queue.
   */
  identity?: Identity
  logger?: Logger
  /** Job outcomes, for a CLI or a test (never the payload: ids, names, result summaries). */
  onEvent?: (event: WorkerEvent) => void
}

export type WorkerEvent =
  | { event: 'completed', queue: QueueName, jobId: string, name: string, result: unknown }
  | { event: 'failed', queue: QueueName, jobId: string, name: string, code: string, reason: string, attemptsMade: number, final: boolean }
  | { event: 'stalled', queue: QueueName, jobId: string }

export interface RunningWorkers {
  readonly queues: readonly QueueName[]
  readonly name: string
  /** Graceful stop (see the module comment). Safe to call twice. */
  close: () => Promise<void>
}

interface ProcessorContext {
  registry: NodeRegistry
  files: FileRegistry
  /** Present when the worker has a network (audit, repair). */
  durability: Durability | undefined
  /** Present when the worker has a network and an identity (upload). */
  uploads: UploadJobDeps | undefined
  client: PieceClient
  queue: (name: QueueName) => Queue
  dht: Dht | undefined
  logger: Logger | undefined
}

type QueueProcessor<Q extends QueueName> = (job: TypedJob<Q>, raw: Job, ctx: ProcessorContext, signal: AbortSignal | undefined) => Promise<unknown>

function durabilityDeps (ctx: ProcessorContext): DurabilityJobDeps {
  if (ctx.durability === undefined) throw new InvalidArgumentError('This worker has no network: audit and repair jobs need one')
  return {
    durability: ctx.durability,
    files: ctx.files,
    addAudit: async jobs => await ctx.queue('audit').addBulk(jobs),
    addRepair: async jobs => await ctx.queue('repair').addBulk(jobs),
    logger: ctx.logger
  }
}

/**
 * Processors by queue. A queue without one (upload, until the controller's uploads land) is
 * refused by startWorkers (NoProcessorError), so its jobs wait for a worker that can process them
 * instead of being completed unprocessed.
 */
const PROCESSORS: { [Q in QueueWithProcessor]: QueueProcessor<Q> } & { [Q in QueueName]?: QueueProcessor<Q> } = {
  audit: async (job, raw, ctx, signal) => {
    switch (job.name) {
      case 'audit-tick':
        return await processAuditTick(raw, job.data, durabilityDeps(ctx), signal)
      case 'audit-file':
        return await processAuditFile(job.data, durabilityDeps(ctx), signal)
    }
  },
  upload: async (job, raw, ctx, signal) => {
    if (ctx.uploads === undefined) throw new InvalidArgumentError('This worker has no network or identity: upload jobs need both')
    switch (job.name) {
      case 'upload-file':
        return await processUploadFile(job.data, ctx.uploads, signal, raw.id)
      case 'delete-file':
        return await processDeleteFile(job.data, ctx.uploads, signal)
    }
  },
  repair: async (job, raw, ctx, signal) => {
    switch (job.name) {
      case 'check-tick':
        return await processCheckTick(job.data, durabilityDeps(ctx), signal)
      case 'repair-check':
        return await processRepairCheck(job.data, durabilityDeps(ctx), signal)
      case 'repair-segment':
        return await processRepairSegment(raw, job.data, durabilityDeps(ctx), signal)
      case 'repair-segments':
        return await processRepairSegments(raw, job.data, durabilityDeps(ctx), signal)
    }
  },
  keepalive: async (job, raw, ctx, signal) => {
    switch (job.name) {
      case 'ping':
        return await processPing(job.data, {
          registry: ctx.registry,
          client: ctx.client,
          dht: ctx.dht,
          logger: ctx.logger,
          // A node lost: check at once the files it held (their segments need repair now).
          onTransition: async (nodeId, transition) => {
            if (transition !== 'lost') return
            const held = (await ctx.files.list(signal === undefined ? {} : { signal })).filter(f => (f.health?.nodes[nodeId] ?? 0) > 0)
            if (held.length > 0) await ctx.queue('repair').addBulk(held.map(f => repairCheckJob(f.capability)))
          }
        }, signal)
      case 'keepalive-tick':
        return await processKeepaliveTick(raw, job.data, { registry: ctx.registry, dht: ctx.dht, logger: ctx.logger, add: async jobs => await ctx.queue('keepalive').addBulk(jobs) }, signal)
    }
  }
}

/** Queues whose processors need a network (StorageNetwork). */
const NEEDS_NETWORK: readonly QueueName[] = ['audit', 'repair', 'upload']

/** Errors that no retry can fix: the job fails at once. */
function isPermanent (err: unknown): boolean {
  return err instanceof JobPayloadError || err instanceof InvalidCapabilityError || err instanceof CapabilityLacksKeyError ||
    err instanceof InvalidManifestError || err instanceof InvalidArgumentError || err instanceof RegistryCorruptError
}

/** The failure recorded on the job: code first, so dashboards and tests can match it. */
function failure (err: unknown): Error {
  const text = `${errorCode(err)}: ${errorMessage(err)}`
  if (err instanceof UnrecoverableError) return err
  if (isPermanent(err)) return new UnrecoverableError(text)
  return new Error(text, { cause: err })
}

export async function startWorkers (init: WorkersInit): Promise<RunningWorkers> {
  // Default: every queue with a processor that this worker can serve (audit and repair need a network).
  const queues = [...new Set(init.queues ?? QUEUES_WITH_PROCESSORS.filter(q => (init.network !== undefined || !NEEDS_NETWORK.includes(q)) && (q !== 'upload' || init.identity !== undefined)))]
  if (queues.length === 0) throw new InvalidArgumentError('No queues to serve')
  for (const q of queues) {
    if (!(QUEUE_NAMES as readonly string[]).includes(q)) throw new InvalidArgumentError(`Unknown queue ${JSON.stringify(q)} (known: ${QUEUE_NAMES.join(', ')})`)
    if (PROCESSORS[q] === undefined) throw new NoProcessorError(`Queue ${q} has no processor in this version; its jobs stay queued for a worker that has one (served here: ${QUEUES_WITH_PROCESSORS.join(', ')})`)
  }
  const withoutNetwork = queues.filter(q => NEEDS_NETWORK.includes(q))
  if (init.network === undefined && withoutNetwork.length > 0) {
    throw new InvalidArgumentError(`Queues ${withoutNetwork.join(', ')} need a network to find pieces: give the worker --bootstrap, --testnet or --nodes (or serve only --queues keepalive)`)
  }
  if (queues.includes('upload') && init.identity === undefined) throw new InvalidArgumentError('The upload queue needs the owner identity of the files this worker stores (--identity)')
  const concurrency = init.concurrency ?? 4
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1000) throw new InvalidArgumentError(`concurrency must be 1..1000, got ${concurrency}`)
  const prefix = init.prefix ?? 'batchain'
  const name = init.name ?? `${hostname()}:${process.pid}`
  const logger = init.logger
  const emit = (event: WorkerEvent): void => { init.onEvent?.(event) }

  // The registry connection waits through Redis restarts (worker role); job signals bound each call.
  const redis = createRedis({ url: init.redis, role: 'worker', name: `batchain-worker-registry:${name}` })
  redis.on('error', err => { logger?.debug({ err: errorMessage(err) }, 'registry connection error') })
  const registry = new NodeRegistry({ redis, prefix, logger })
  const files = new FileRegistry({ redis, prefix, logger })
  // Pings need fresh connections (maxIdlePerPeer 0); audits and repairs reuse theirs.
  const client = new PieceClient({ maxIdlePerPeer: 0 })
  const dataClient = new PieceClient()
  const durability = init.network === undefined ? undefined : new Durability({ network: init.network, client: dataClient, nodes: registry, files, logger })
  const ownerClient = init.identity === undefined ? undefined : new PieceClient({ identity: init.identity })
  const uploads: UploadJobDeps | undefined = init.network === undefined || init.identity === undefined || durability === undefined || ownerClient === undefined
    ? undefined
    : { network: init.network, client: ownerClient, identity: init.identity, files, nodes: registry, durability, logger }
  const producers = new Map<QueueName, Queue>()
  // Owned by us, shared by the fan-out queues (see JobProducer.connection for why not BullMQ's).
  let producerRedis: Redis | undefined
  const ctx: ProcessorContext = {
    registry,
    files,
    durability,
    uploads,
    client,
    dht: init.dht,
    logger,
    queue: q => {
      let queue = producers.get(q)
      if (queue === undefined) {
        if (producerRedis === undefined) {
          producerRedis = createRedis({ url: init.redis, role: 'producer', name: `batchain-worker-producer:${name}` })
          producerRedis.on('error', err => { logger?.debug({ err: errorMessage(err) }, 'producer connection error') })
        }
        queue = new Queue(q, { connection: producerRedis, prefix, defaultJobOptions: QUEUE_JOB_DEFAULTS[q] })
        queue.on('error', err => { logger?.debug({ queue: q, err: errorMessage(err) }, 'producer connection error') })
        producers.set(q, queue)
      }
      return queue
    }
  }

  const workers = new Map<QueueName, Worker>()
  for (const queue of queues) {
    const processor = PROCESSORS[queue] as QueueProcessor<QueueName>
    // Three parameters: BullMQ passes the job's AbortSignal only to processors that declare it.
    const run = async (job: Job, _token: string | undefined, signal: AbortSignal | undefined): Promise<unknown> => {
      let typed: TypedJob<QueueName>
      try {
        typed = parseJob(queue, job.name, job.data)
      } catch (err) {
        logger?.warn({ queue, jobId: job.id, name: job.name.slice(0, 80), err: errorMessage(err) }, 'rejected job payload')
        throw failure(err)
      }
      try {
        return await processor(typed, job, ctx, signal)
      } catch (err) {
        throw failure(err)
      }
    }
    const worker = new Worker(queue, run, {
      connection: bullConnection({ url: init.redis, role: 'worker', name: `batchain-worker:${name}` }),
      prefix,
      name,
      concurrency,
      lockDuration: init.lockDurationMs ?? 30 * second,
      stalledInterval: init.stalledIntervalMs ?? 30 * second,
      maxStalledCount: init.maxStalledCount ?? 1,
      autorun: true
    })
    // An 'error' event without a listener would throw and crash the process; connection trouble
    // is expected (Redis restarts) and BullMQ reconnects by itself.
    worker.on('error', err => { logger?.warn({ queue, err: errorMessage(err) }, 'worker error') })
    worker.on('completed', (job: Job, result: unknown) => {
      emit({ event: 'completed', queue, jobId: job.id ?? '', name: job.name, result })
    })
    worker.on('failed', (job: Job | undefined, err: Error) => {
      if (job === undefined) return
      const final = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1)
      const code = /^(BATCHAIN_ERR_[A-Z0-9_]+):/.exec(err.message)?.[1] ?? (err instanceof BatchainError ? err.code : 'BATCHAIN_ERR_INTERNAL')
      logger?.warn({ queue, jobId: job.id, name: job.name.slice(0, 80), attemptsMade: job.attemptsMade, final, reason: err.message }, 'job failed')
      emit({ event: 'failed', queue, jobId: job.id ?? '', name: job.name.slice(0, 80), code, reason: err.message, attemptsMade: job.attemptsMade, final })
    })
    worker.on('stalled', (jobId: string) => {
      logger?.warn({ queue, jobId }, 'job stalled (its worker died or lost the lock); moved back to waiting')
      emit({ event: 'stalled', queue, jobId })
    })
    workers.set(queue, worker)
  }
  await Promise.all([...workers.values()].map(async w => { await w.waitUntilReady() }))
  logger?.info({ queues, concurrency, name }, 'workers started')

  const graceMs = init.shutdownGraceMs ?? 25 * second
  let closing: Promise<void> | undefined
  return {
    queues,
    name,
    close: async () => {
      closing ??= (async () => {
        await Promise.all([...workers.entries()].map(async ([queue, worker]) => {
          const graceful = worker.close()
          const finished = await Promise.race([graceful.then(() => true), sleep(graceMs).then(() => false)])
          if (!finished) {
            logger?.warn({ queue, graceMs }, 'jobs still running after the shutdown grace period; cancelling them')
            worker.cancelAllJobs('worker shutting down')
            // close(true) would return the pending graceful close: BullMQ keeps one close per worker.
            const done = await Promise.race([graceful.then(() => true), sleep(5 * second).then(() => false)])
            if (!done) logger?.warn({ queue }, 'jobs ignored cancellation; leaving them to stalled recovery')
          }
        }))
        await Promise.all([...producers.values()].map(async q => { await q.close().catch(() => {}) }))
        if (producerRedis !== undefined) await closeRedis(producerRedis)
        client.close()
        dataClient.close()
        ownerClient?.close()
        await closeRedis(redis)
      })()
      await closing
    }
  }
}

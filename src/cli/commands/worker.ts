import type { Command } from 'commander'
import { InvalidArgumentError } from '../../core/errors.js'
import { createLogger } from '../../core/logger.js'
import { QUEUE_NAMES, QUEUES_WITH_PROCESSORS, isQueueName, type QueueName } from '../../jobs/payloads.js'
import { describeRedisUrl } from '../../jobs/redis-url.js'
import type { WorkerEvent } from '../../jobs/worker.js'
import { addNetworkOptions, networkGiven, openNetwork, type NetworkCliOptions, type OpenNetwork } from '../network.js'
import { intOption } from '../options.js'
import { PieceClient } from '../../transfer/index.js'
import { join } from 'node:path'
import { loadOrCreateIdentity } from '../../crypto/keys.js'
import { batchainHome } from '../../client/index.js'
import type { Output } from '../output.js'

interface WorkerCliOptions extends NetworkCliOptions {
  identity?: string
  redis?: string
  queues?: string
  concurrency: number
  lockDuration?: number
  stalledInterval?: number
  maxStalled?: number
  shutdownGrace: number
  name?: string
  prefix?: string
}

/** --redis or BATCHAIN_REDIS: where the queues live. */
export function redisUrlOf (flag: string | undefined): string {
  const url = flag ?? process.env.BATCHAIN_REDIS
  if (url === undefined || url.trim() === '') throw new InvalidArgumentError('No Redis given: pass --redis redis://HOST:PORT (or set BATCHAIN_REDIS)')
  describeRedisUrl(url) // validates
  return url
}

function queuesOf (text: string | undefined): QueueName[] {
  if (text === undefined) return [...QUEUES_WITH_PROCESSORS]
  const names = text.split(',').map(s => s.trim()).filter(s => s !== '')
  if (names.length === 0) throw new InvalidArgumentError('--queues is empty')
  for (const n of names) if (!isQueueName(n)) throw new InvalidArgumentError(`Unknown queue ${JSON.stringify(n)} in --queues (known: ${QUEUE_NAMES.join(', ')})`)
  return names as QueueName[]
}

/** Resolves on the first SIGTERM/SIGINT. */
function shutdownRequested (): Promise<string> {
  return new Promise(resolve => {
    process.once('SIGTERM', () => { resolve('SIGTERM') })
    process.once('SIGINT', () => { resolve('SIGINT') })
  })
}

export function registerWorker (program: Command, output: () => Output): void {
  const cmd = program.command('worker')
    .description(`run BullMQ workers for the durability queues until SIGTERM/SIGINT (queues with processors: ${QUEUES_WITH_PROCESSORS.join(', ')})`)
    .option('--redis <url>', 'Redis holding the queues, redis://HOST:PORT[/DB] (also BATCHAIN_REDIS)')
    .option('--queues <list>', `queues to serve, comma-separated (default: every queue this version has a processor for; known: ${QUEUE_NAMES.join(', ')})`)
    .option('--concurrency <n>', 'jobs run in parallel per queue', intOption('--concurrency', 1, 1000), 4)
    .option('--lock-duration <ms>', 'lock of an active job; a killed worker\'s jobs run again elsewhere after it expires (default 30000)', intOption('--lock-duration', 500, 3_600_000))
    .option('--stalled-interval <ms>', 'how often to look for jobs whose worker died (default 30000)', intOption('--stalled-interval', 100, 3_600_000))
    .option('--max-stalled <n>', 'stalls a job survives before it fails (default 1)', intOption('--max-stalled', 0, 100))
    .option('--shutdown-grace <seconds>', 'on SIGTERM, how long in-flight jobs may finish before they are cancelled', intOption('--shutdown-grace', 0, 3600), 25)
    .option('--name <name>', 'worker name recorded on the jobs it processes (default HOST:PID)')
    .option('--prefix <prefix>', 'Redis key prefix (default batchain)')
    .option('--identity <file>', 'owner key of the files this worker uploads and deletes (created if absent; default BATCHAIN_HOME/identity.pem)')
  addNetworkOptions(cmd)
    .action(async (opts: WorkerCliOptions) => {
      const out = output()
      const redis = redisUrlOf(opts.redis)
      const queues = queuesOf(opts.queues)
      const logger = createLogger('worker')
      const stop = shutdownRequested()
      // Audits and repairs find pieces through the network; keepalive uses its DHT to find nodes
      // that moved and to discover new ones. The locator's client only asks (HAS), never stores.
      let open: OpenNetwork | undefined
      const locatorClient = new PieceClient()
      if (networkGiven(opts)) open = await openNetwork(opts, locatorClient)
      const line = (value: unknown): void => { if (out.json) process.stdout.write(JSON.stringify(value) + '\n') }
      // Loaded on demand: BullMQ and ioredis, which only this command's action needs.
      const { startWorkers } = await import('../../jobs/worker.js')
      const running = await startWorkers({
        redis,
        prefix: opts.prefix,
        queues,
        concurrency: opts.concurrency,
        lockDurationMs: opts.lockDuration,
        stalledIntervalMs: opts.stalledInterval,
        maxStalledCount: opts.maxStalled,
        shutdownGraceMs: opts.shutdownGrace * 1000,
        name: opts.name,
        ...(open === undefined ? {} : { network: open.network }),
        ...(open?.dht === undefined ? {} : { dht: open.dht }),
        ...(open === undefined ? {} : { identity: await loadOrCreateIdentity(opts.identity ?? join(batchainHome(), 'identity.pem')) }),
        logger,
        onEvent: (event: WorkerEvent) => { line(event) }
      })
      line({ event: 'ready', name: running.name, queues: running.queues, concurrency: opts.concurrency, redis: describeRedisUrl(redis), pid: process.pid })
      out.info(`worker ${running.name} serving ${running.queues.join(', ')} from ${describeRedisUrl(redis)}`)
      const signal = await stop
      logger.info({ signal }, 'stopping: letting in-flight jobs finish')
      await running.close()
      await open?.close()
      locatorClient.close()
      line({ event: 'stopped', name: running.name })
    })
}

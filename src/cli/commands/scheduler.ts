import type { Command } from 'commander'
import { createLogger } from '../../core/logger.js'
import { DEFAULT_AUDIT_EVERY_MS, DEFAULT_CHECK_EVERY_MS, DEFAULT_KEEPALIVE_EVERY_MS, DEFAULT_KEEPALIVE_POLICY } from '../../jobs/defaults.js'
import { describeRedisUrl } from '../../jobs/redis-url.js'
import type { SchedulerEvent } from '../../jobs/scheduler.js'
import type { Contact } from '../../transfer/index.js'
import { intOption, nodesOption } from '../options.js'
import type { Output } from '../output.js'
import { redisUrlOf } from './worker.js'

interface SchedulerCliOptions {
  redis?: string
  bootstrap?: Contact[]
  testnet?: string
  auditEvery: number
  checkEvery: number
  discover?: number
  keepaliveEvery: number
  grace: number
  misses: number
  pingTimeout: number
  nodes?: Contact[]
  lockTtl?: number
  prefix?: string
}

export function registerScheduler (program: Command, output: () => Output): void {
  program.command('scheduler')
    .description('own the job schedules while leader (a Redis lock; any number may run, one leads) until SIGTERM/SIGINT')
    .option('--redis <url>', 'Redis holding the queues, redis://HOST:PORT[/DB] (also BATCHAIN_REDIS)')
    .option('--keepalive-every <seconds>', 'ping every registered node this often', intOption('--keepalive-every', 1, 24 * 3600), DEFAULT_KEEPALIVE_EVERY_MS / 1000)
    .option('--grace <seconds>', 'how long a node may be offline before its pieces count as lost (0: at once)', intOption('--grace', 0, 365 * 24 * 3600), DEFAULT_KEEPALIVE_POLICY.graceMs / 1000)
    .option('--misses <n>', 'missed pings in a row that make a node offline', intOption('--misses', 1, 1000), DEFAULT_KEEPALIVE_POLICY.missesToOffline)
    .option('--ping-timeout <seconds>', 'deadline of one ping', intOption('--ping-timeout', 1, 600), DEFAULT_KEEPALIVE_POLICY.pingTimeoutMs / 1000)
    .option('--audit-every <seconds>', 'audit every registered file this often', intOption('--audit-every', 1, 30 * 24 * 3600), DEFAULT_AUDIT_EVERY_MS / 1000)
    .option('--check-every <seconds>', 'check the health of every registered file this often (degraded segments are repaired)', intOption('--check-every', 1, 30 * 24 * 3600), DEFAULT_CHECK_EVERY_MS / 1000)
    .option('--nodes <list>', 'storage nodes to register, HOST:PORT,... (repeatable; unreachable ones are retried)', nodesOption)
    .option('--bootstrap <list>', 'the network is found through the DHT: workers register the storage nodes their DHT finds (HOST:PORT of bootstraps; recorded for --discover)', nodesOption)
    .option('--testnet <dir>', 'like --bootstrap, for a local testnet')
    .option('--discover <n>', 'random DHT keys each keepalive tick looks around for new storage nodes (default 4 with --bootstrap/--testnet, else 0)', intOption('--discover', 0, 64))
    .option('--lock-ttl <ms>', 'leader lock lifetime; a standby takes over within it when the leader dies (default 15000)', intOption('--lock-ttl', 300, 600_000))
    .option('--prefix <prefix>', 'Redis key prefix (default batchain)')
    .action(async (opts: SchedulerCliOptions) => {
      const out = output()
      const redis = redisUrlOf(opts.redis)
      const logger = createLogger('scheduler')
      const stop = new Promise<string>(resolve => {
        process.once('SIGTERM', () => { resolve('SIGTERM') })
        process.once('SIGINT', () => { resolve('SIGINT') })
      })
      const line = (value: unknown): void => { if (out.json) process.stdout.write(JSON.stringify(value) + '\n') }
      // Loaded on demand: BullMQ and ioredis, which only this command's action needs.
      const { startScheduler } = await import('../../jobs/scheduler.js')
      const running = await startScheduler({
        redis,
        prefix: opts.prefix,
        keepalive: { everyMs: opts.keepaliveEvery * 1000, policy: { graceMs: opts.grace * 1000, missesToOffline: opts.misses, pingTimeoutMs: opts.pingTimeout * 1000 } },
        auditEveryMs: opts.auditEvery * 1000,
        checkEveryMs: opts.checkEvery * 1000,
        discover: opts.discover ?? (opts.bootstrap !== undefined || opts.testnet !== undefined || (process.env.BATCHAIN_TESTNET_DIR ?? '') !== '' || (process.env.BATCHAIN_BOOTSTRAP ?? '') !== '' ? 4 : 0),
        seeds: opts.nodes ?? [],
        lock: { ttlMs: opts.lockTtl },
        logger,
        onEvent: (event: SchedulerEvent) => {
          line(event)
          if (event.event === 'leader') out.info('leading: this process owns the job schedules')
          if (event.event === 'standby') out.info('standby: another scheduler leads')
          if (event.event === 'demoted') out.info(`no longer leading: ${event.reason}`)
        }
      })
      line({ event: 'ready', token: running.token, redis: describeRedisUrl(redis), pid: process.pid })
      const signal = await stop
      logger.info({ signal }, 'stopping: releasing the leader lock')
      await running.stop()
      line({ event: 'stopped' })
    })
}

import type { Command } from 'commander'
import { createLogger } from '../../core/logger.js'
import { MIN_TOKEN_LENGTH } from '../../dashboard/auth.js'
import { describeRedisUrl } from '../../jobs/redis-url.js'
import { intOption } from '../options.js'
import type { Output } from '../output.js'
import { redisUrlOf } from './worker.js'

interface DashboardCliOptions {
  redis?: string
  host: string
  port: number
  token?: string
  prefix?: string
  refresh: number
}

/** Resolves on the first SIGTERM/SIGINT. */
function shutdownRequested (): Promise<string> {
  return new Promise(resolve => {
    process.once('SIGTERM', () => { resolve('SIGTERM') })
    process.once('SIGINT', () => { resolve('SIGINT') })
  })
}

export function registerDashboard (program: Command, output: () => Output): void {
  program.command('dashboard')
    .description('serve the web dashboard (network, files, jobs via bull-board, JSON API, /healthz, /metrics) until SIGTERM/SIGINT')
    .option('--redis <url>', 'Redis holding the queues and registries, redis://HOST:PORT[/DB] (also BATCHAIN_REDIS)')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--port <port>', 'TCP port (0 picks a free one; the ready line says which)', intOption('--port', 0, 65535), 8080)
    .option('--token <token>', `allow job actions to requests carrying this token (at least ${MIN_TOKEN_LENGTH} characters; also BATCHAIN_DASHBOARD_TOKEN, which keeps it out of the process list); without one the dashboard is read-only`)
    .option('--prefix <prefix>', 'Redis key prefix (default batchain)')
    .option('--refresh <seconds>', 'pages reload themselves this often (0: never)', intOption('--refresh', 0, 3600), 10)
    .action(async (opts: DashboardCliOptions) => {
      const out = output()
      const redis = redisUrlOf(opts.redis)
      const envToken = process.env.BATCHAIN_DASHBOARD_TOKEN
      const token = opts.token ?? (envToken === undefined || envToken === '' ? undefined : envToken)
      const logger = createLogger('dashboard')
      const stop = shutdownRequested()
      const line = (value: unknown): void => { if (out.json) process.stdout.write(JSON.stringify(value) + '\n') }
      // Loaded on demand: express, bull-board, BullMQ and ioredis, which only this command's action needs.
      const { startDashboard } = await import('../../dashboard/index.js')
      const dashboard = await startDashboard({ redis, host: opts.host, port: opts.port, token, prefix: opts.prefix, refreshSeconds: opts.refresh, logger })
      line({ event: 'ready', url: dashboard.url, host: dashboard.host, port: dashboard.port, readOnly: dashboard.readOnly, redis: describeRedisUrl(redis), pid: process.pid })
      out.info(`dashboard at ${dashboard.url} (${dashboard.readOnly ? 'read-only: no token' : 'job actions need the token'}), reading ${describeRedisUrl(redis)}`)
      const signal = await stop
      logger.info({ signal }, 'stopping the dashboard')
      await dashboard.close()
      line({ event: 'stopped' })
    })
}

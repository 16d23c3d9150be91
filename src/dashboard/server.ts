import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Queue } from 'bullmq'
import express from 'express'
import { second } from '../core/constants.js'
import { InvalidArgumentError, errorMessage } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import { closeRedis, createRedis, describeRedisUrl } from '../jobs/connection.js'
import { QUEUE_NAMES, type QueueName } from '../jobs/payloads.js'
import { JobProducer } from '../jobs/producer.js'
import { DEFAULT_REPUTATION_POLICY, type ReputationPolicy } from '../jobs/reputation.js'
import { checkToken } from './auth.js'
import { createBoards } from './board.js'
import { DashboardData } from './data.js'
import { createMetrics } from './metrics.js'
import { mountRoutes } from './routes.js'

/** How to start a dashboard (startDashboard). */
export interface DashboardOptions {
  /** redis:// URL of the queues and the registries. */
  redis: string
  /** Interface to listen on. @defaultValue '127.0.0.1' (this machine only) */
  host?: string
  /** TCP port; 0 picks a free one (read it from the result). @defaultValue 0 */
  port?: number
  /**
   * Allows job actions (bull-board's buttons, audit and repair requests) to requests that carry
   * it (`Authorization: Bearer TOKEN`, or the cookie of the /login form). Without it the dashboard
   * is read-only for everyone. At least 16 characters.
   */
  token?: string
  /** BullMQ and registry key prefix. @defaultValue 'batchain' */
  prefix?: string
  /** Pages reload themselves this often (seconds); 0 turns it off. @defaultValue 10 */
  refreshSeconds?: number
  /** Deadline of the Redis reads behind one page or API answer. @defaultValue 3 s */
  redisTimeoutMs?: number
  /** Deadline of the /healthz PING. @defaultValue 1 s */
  healthTimeoutMs?: number
  /** How long close() lets open requests finish before it cuts their connections. @defaultValue 2 s */
  closeGraceMs?: number
  /** The trust threshold shown and used. @defaultValue DEFAULT_REPUTATION_POLICY */
  reputation?: ReputationPolicy
  logger?: Logger
}

export interface RunningDashboard {
  /** http://HOST:PORT */
  readonly url: string
  readonly host: string
  readonly port: number
  /** True without a token: nobody can act through this dashboard. */
  readonly readOnly: boolean
  /** Stops listening, closes the queues, the producer and the Redis connection. Safe to call twice. */
  close: () => Promise<void>
}

/**
 * Starts the dashboard: network, files and file pages, a JSON API, bull-board at /jobs, /healthz
 * and /metrics (routes.ts lists them), served by express 5 on `host:port`.
 *
 * Redis connections: one `client`-role connection of ours serves the registry reads and is shared
 * by the Queue objects bull-board and the metrics read (BullMQ does not close a connection it was
 * given; we close it last, with closeRedis, which copes with a Redis that is down). With a token,
 * a JobProducer (its own producer connection, no offline queue) adds audit and repair jobs. While
 * Redis is down every page and API answer is a 503 within the read deadline, and the connection
 * keeps reconnecting, so the dashboard serves again by itself once Redis is back.
 */
export async function startDashboard (options: DashboardOptions): Promise<RunningDashboard> {
  const host = options.host ?? '127.0.0.1'
  const port = options.port ?? 0
  const prefix = options.prefix ?? 'batchain'
  const refreshSeconds = options.refreshSeconds ?? 10
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`port must be an integer from 0 to 65535, got ${port}`)
  if (!Number.isInteger(refreshSeconds) || refreshSeconds < 0 || refreshSeconds > 3600) throw new InvalidArgumentError(`refreshSeconds must be an integer from 0 to 3600, got ${refreshSeconds}`)
  if (options.token !== undefined) checkToken(options.token)
  describeRedisUrl(options.redis) // validates the URL before anything opens
  const logger = options.logger

  const redis = createRedis({ url: options.redis, role: 'client', name: 'batchain-dashboard' })
  let redisDown = false
  redis.on('error', err => {
    // ioredis reports every failed reconnection: log the outage once, not every attempt.
    if (!redisDown) logger?.warn({ err: errorMessage(err), redis: describeRedisUrl(options.redis) }, 'Redis unreachable; the dashboard answers 503 until it is back')
    redisDown = true
  })
  redis.on('ready', () => {
    if (redisDown) logger?.info('Redis reachable again')
    redisDown = false
  })
  const queues = new Map<QueueName, Queue>(QUEUE_NAMES.map(name => {
    const queue = new Queue(name, { connection: redis, prefix })
    queue.on('error', err => { logger?.debug({ queue: name, err: errorMessage(err) }, 'queue connection error') })
    return [name, queue]
  }))
  const producer = options.token === undefined ? undefined : new JobProducer({ redis: options.redis, prefix, retryForMs: 5 * second, logger })
  const data = new DashboardData({ redis, queues, prefix, reputation: options.reputation ?? DEFAULT_REPUTATION_POLICY, timeoutMs: options.redisTimeoutMs ?? 3 * second, logger })
  const metrics = createMetrics(data, logger)
  const boards = createBoards(queues, '/jobs', options.token !== undefined)

  const app = express()
  app.disable('x-powered-by')
  app.set('etag', false)
  mountRoutes(app, { data, metrics, boards, producer, token: options.token, refreshSeconds, healthTimeoutMs: options.healthTimeoutMs ?? second, logger })
  const server = createServer(app)

  const release = async (): Promise<void> => {
    await Promise.all([...queues.values()].map(async q => { await q.close().catch(() => {}) }))
    await producer?.close()
    await closeRedis(redis)
  }
  try {
    await listen(server, port, host)
  } catch (err) {
    await release()
    throw err
  }
  const actual = (server.address() as AddressInfo).port
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${actual}`
  logger?.info({ url, readOnly: options.token === undefined, redis: describeRedisUrl(options.redis), prefix }, 'dashboard listening')

  let closing: Promise<void> | undefined
  return {
    url,
    host,
    port: actual,
    readOnly: options.token === undefined,
    close: async () => {
      closing ??= (async () => {
        const closed = new Promise<void>(resolve => server.close(() => { resolve() }))
        server.closeIdleConnections()
        const cut = setTimeout(() => { server.closeAllConnections() }, options.closeGraceMs ?? 2 * second)
        await closed
        clearTimeout(cut)
        await release()
      })()
      await closing
    }
  }
}

async function listen (server: Server, port: number, host: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(err.code === 'EADDRINUSE'
        ? new InvalidArgumentError(`Cannot listen on ${host}:${port}: the address is in use`, { cause: err })
        : err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND'
          ? new InvalidArgumentError(`Cannot listen on ${host}:${port}: no such local address`, { cause: err })
          : err)
    }
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve()
    })
  })
}

import type { RedisOptions as BullRedisOptions } from 'bullmq'
import { Redis, type RedisOptions } from 'ioredis'
import { second } from '../core/constants.js'
import { describeRedisUrl, parseRedisUrl, type RedisAddress } from './redis-url.js'

/**
 * Redis connections for the durability loop, set up the way BullMQ's production guide asks:
 *
 * - **worker** connections (BullMQ Workers, and the registry client that processors use):
 *   `maxRetriesPerRequest: null`, so a command issued while Redis restarts waits for the
 *   reconnect instead of failing after a few retries; a worker must ride out a Redis restart.
 * - **producer** connections (Queues that add jobs, the scheduler): `enableOfflineQueue: false`,
 *   so an add while Redis is down fails at once instead of piling up in memory; the caller decides
 *   (enqueue() in producer.ts retries with backoff, bounded and abortable).
 * - **client** connections (leader lock, registry reads from a CLI): fail a command after a few
 *   retries rather than hang.
 *
 * All of them reconnect forever with capped exponential backoff plus jitter (retryStrategy), and
 * keep TCP keepalive on so a dead peer is noticed. BullMQ gets *options* rather than instances, so
 * it creates and owns the connections it needs (a Worker opens a separate blocking one).
 *
 * The server side (Redis itself) should run with AOF on and `maxmemory-policy noeviction`:
 * evicting BullMQ's keys silently loses jobs (test/helpers/redis.ts starts it that way).
 */
export type RedisRole = 'worker' | 'producer' | 'client'

export interface RedisConnectionInit {
  /** redis://[user:password@]host[:port][/db] or rediss:// (TLS). */
  url: string
  role: RedisRole
  /** CLIENT SETNAME, to tell connections apart in `CLIENT LIST`. */
  name?: string
  /** Deadline of one connection attempt. @defaultValue 10 s */
  connectTimeoutMs?: number
  /** Longest wait between reconnection attempts. @defaultValue 5 s */
  maxReconnectDelayMs?: number
}

// Defined in redis-url.ts (the CLI validates and prints URLs without loading ioredis); exported here too.
export { describeRedisUrl, parseRedisUrl, type RedisAddress }

/** Capped exponential backoff with jitter: 100 ms, 200 ms, … up to maxMs (never gives up). */
export function reconnectDelay (attempt: number, maxMs = 5 * second, random = Math.random): number {
  const base = Math.min(maxMs, 100 * 2 ** Math.min(Math.max(attempt - 1, 0), 16))
  return Math.round(base / 2 + random() * base / 2)
}

/** ioredis options for a role (see the module comment for why each setting). */
export function redisOptions (init: RedisConnectionInit): RedisOptions {
  const a = parseRedisUrl(init.url)
  const maxDelay = init.maxReconnectDelayMs ?? 5 * second
  const options: RedisOptions = {
    host: a.host,
    port: a.port,
    db: a.db,
    connectTimeout: init.connectTimeoutMs ?? 10 * second,
    keepAlive: 30 * second,
    // RESP2 replies are what BullMQ's scripts and our registry code were written against.
    protocol: 2,
    retryStrategy: (times: number) => reconnectDelay(times, maxDelay),
    // A failover promotes a replica: reconnect when a write hits a read-only one.
    reconnectOnError: (err: Error) => err.message.startsWith('READONLY')
  }
  if (a.username !== undefined) options.username = a.username
  if (a.password !== undefined) options.password = a.password
  if (a.tls) options.tls = { servername: a.host }
  if (init.name !== undefined) options.connectionName = init.name
  switch (init.role) {
    case 'worker':
      options.maxRetriesPerRequest = null
      break
    case 'producer':
      options.enableOfflineQueue = false
      options.maxRetriesPerRequest = 1
      break
    case 'client':
      options.maxRetriesPerRequest = 3
      break
  }
  return options
}

/**
 * The same options typed for BullMQ's `connection` (BullMQ declares retryStrategy without ioredis
 * 6's `null` member; ours is always a function, so the options are the same object either way).
 */
export function bullConnection (init: RedisConnectionInit): BullRedisOptions {
  return redisOptions(init) as BullRedisOptions
}

/** A new ioredis connection for a role. Close it with quit() (or disconnect() when Redis is gone). */
export function createRedis (init: RedisConnectionInit): Redis {
  return new Redis(redisOptions(init))
}

/** Closes a connection politely when it can, at once when it cannot (Redis down). */
export async function closeRedis (redis: Redis): Promise<void> {
  if (redis.status === 'end') return
  if (redis.status !== 'ready') { redis.disconnect(); return }
  try {
    await redis.quit()
  } catch {
    redis.disconnect()
  }
}

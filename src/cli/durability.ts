import type { Command } from 'commander'
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { AbortOptions } from '../core/abort.js'
import { InvalidArgumentError } from '../core/errors.js'
import { createLogger } from '../core/logger.js'
import { Durability } from '../jobs/durability.js'
import { FileRegistry } from '../jobs/file-registry.js'
import type { JobProducer } from '../jobs/producer.js'
import { describeRedisUrl } from '../jobs/redis-url.js'
import { NodeRegistry } from '../jobs/registry.js'
import { PieceClient } from '../transfer/index.js'
import type { Redis } from 'ioredis'
import { openNetwork, type NetworkCliOptions } from './network.js'

/**
 * What the durability commands (audit, repair, status, upload's registration) share: finding the
 * Redis of the durability loop, and opening a Durability over the network and, when Redis is
 * known, the registries.
 *
 * Redis comes from --redis, then BATCHAIN_REDIS, then the testnet dir's redis.url (--testnet or
 * BATCHAIN_TESTNET_DIR), as the network does.
 */
export interface RedisCliOptions { redis?: string }

export function addRedisOption (cmd: Command, what: string): Command {
  return cmd.option('--redis <url>', `Redis of the durability loop, redis://HOST:PORT[/DB] (also BATCHAIN_REDIS, or the testnet's): ${what}`)
}

export function redisUrlFor (opts: RedisCliOptions & NetworkCliOptions): string | undefined {
  const pick = (value: string | undefined): string | undefined => value === undefined || value.trim() === '' ? undefined : value.trim()
  const url = pick(opts.redis) ?? pick(process.env.BATCHAIN_REDIS) ?? testnetRedis(opts.testnet ?? pick(process.env.BATCHAIN_TESTNET_DIR))
  if (url !== undefined) describeRedisUrl(url) // validates
  return url
}

function testnetRedis (dir: string | undefined): string | undefined {
  if (dir === undefined) return undefined
  const file = join(resolve(dir), 'redis.url')
  if (!existsSync(file)) return undefined
  const url = readFileSync(file, 'utf8').trim()
  return url === '' ? undefined : url
}

export interface CliRedis {
  redis: Redis
  close: () => Promise<void>
}

/** A client-role Redis connection for a command; its errors surface as failed commands, not events. */
export async function connectRedis (url: string, name: string): Promise<CliRedis> {
  // Loaded on demand: ioredis, which a command without Redis never needs.
  const { closeRedis, createRedis } = await import('../jobs/connection.js')
  const redis = createRedis({ url, role: 'client', name })
  redis.on('error', () => {})
  return { redis, close: async () => { await closeRedis(redis) } }
}

export interface OpenDurability {
  durability: Durability
  /** Present when Redis is known. */
  files?: FileRegistry
  nodes?: NodeRegistry
  redisUrl?: string
  /** A producer on the same Redis (for enqueueing). */
  producer?: JobProducer
  close: () => Promise<void>
}

export async function openDurability (opts: RedisCliOptions & NetworkCliOptions, options: AbortOptions & { needRedis?: boolean } = {}): Promise<OpenDurability> {
  const redisUrl = redisUrlFor(opts)
  if (options.needRedis === true && redisUrl === undefined) {
    throw new InvalidArgumentError('No Redis given: pass --redis redis://HOST:PORT (or set BATCHAIN_REDIS, or use --testnet DIR of a testnet with Redis); or run it here with --now')
  }
  const client = new PieceClient()
  const logger = createLogger('durability')
  let connection: CliRedis | undefined
  let producer: JobProducer | undefined
  const net = await openNetwork(opts, client, options).catch((err: unknown) => { client.close(); throw err })
  try {
    let files: FileRegistry | undefined
    let nodes: NodeRegistry | undefined
    if (redisUrl !== undefined) {
      connection = await connectRedis(redisUrl, 'batchain-cli')
      files = new FileRegistry({ redis: connection.redis, logger })
      nodes = new NodeRegistry({ redis: connection.redis, logger })
      // Loaded on demand: BullMQ, which a command without Redis never needs.
      const { JobProducer } = await import('../jobs/producer.js')
      producer = new JobProducer({ redis: redisUrl, logger, retryForMs: 10_000 })
    }
    const network = net.network
    const durability = new Durability({ network, client, logger, ...(files === undefined ? {} : { files }), ...(nodes === undefined ? {} : { nodes }) })
    return {
      durability,
      ...(files === undefined ? {} : { files }),
      ...(nodes === undefined ? {} : { nodes }),
      ...(redisUrl === undefined ? {} : { redisUrl }),
      ...(producer === undefined ? {} : { producer }),
      close: async () => {
        await producer?.close()
        await connection?.close()
        await net.close()
        client.close()
      }
    }
  } catch (err) {
    await net.close()
    client.close()
    throw err
  }
}

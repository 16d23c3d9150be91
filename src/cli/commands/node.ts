import type { Command } from 'commander'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { z } from 'zod'
import { second } from '../../core/constants.js'
import { InvalidArgumentError } from '../../core/errors.js'
import { createLogger } from '../../core/logger.js'
import { parseSize } from '../../core/size.js'
import type { ServerRole } from '../../node/index.js'
import { parseContactList, type Contact } from '../../transfer/index.js'
import { intOption, nodesOption, sizeOption } from '../options.js'
import type { Output } from '../output.js'

interface NodeStartOptions {
  dataDir: string
  role: string
  port?: number
  dhtPort?: number
  host?: string
  capacity?: number
  bootstrap?: Contact[]
  zone?: string
  config?: string
  pointerTtl?: number
}

/** `--config FILE`: the same settings as the flags, as JSON; flags win over the file. */
const configSchema = z.strictObject({
  role: z.enum(['storage', 'bootstrap']).optional(),
  host: z.string().min(1).optional(),
  port: z.number().int().min(0).max(65535).optional(),
  dhtPort: z.number().int().min(0).max(65535).optional(),
  capacity: z.union([z.string(), z.number().int().nonnegative()]).optional(),
  bootstrap: z.array(z.string()).optional(),
  zone: z.string().min(1).max(64).optional()
})

async function readConfig (file: string): Promise<z.infer<typeof configSchema>> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new InvalidArgumentError(`Cannot read config ${file}: ${(err as Error).message}`)
  }
  let json: unknown
  try { json = JSON.parse(text) } catch (err) { throw new InvalidArgumentError(`Config ${file} is not JSON: ${(err as Error).message}`) }
  const parsed = configSchema.safeParse(json)
  if (!parsed.success) throw new InvalidArgumentError(`Invalid config ${file}: ${parsed.error.issues.map(i => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`)
  return parsed.data
}

/** Bootstrap seeds: --bootstrap, else the config file, else BATCHAIN_BOOTSTRAP (comma-separated). */
function seedsOf (flags: Contact[] | undefined, config: string[] | undefined): Contact[] {
  if (flags !== undefined) return flags
  if (config !== undefined && config.length > 0) return parseContactList(config.join(','))
  const env = process.env.BATCHAIN_BOOTSTRAP
  return env !== undefined && env.trim() !== '' ? parseContactList(env) : []
}

export function registerNode (program: Command, output: () => Output): void {
  const node = program.command('node').description('run a BatChain node: a storage node (BatNode + KadNode) or a bootstrap seed')
  node.command('start')
    .description('run a node in the foreground until SIGTERM/SIGINT; structured logs on stderr')
    .requiredOption('--data-dir <dir>', 'directory for the node key, pieces and DHT state')
    .option('--role <role>', 'storage (pieces + DHT) or bootstrap (DHT seed only)', 'storage')
    .option('--port <port>', 'TCP port of the piece server (0 picks a free one)', intOption('--port', 0, 65535))
    .option('--dht-port <port>', 'port of the KadNode (0 picks a free one)', intOption('--dht-port', 0, 65535))
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option('--capacity <size>', 'bytes of pieces to accept, e.g. 500MiB or 10GiB (default 10GiB)', sizeOption)
    .option('--bootstrap <list>', 'bootstrap nodes HOST:PORT,... (repeatable; also BATCHAIN_BOOTSTRAP or the config file)', nodesOption)
    .option('--zone <label>', 'failure domain label (placement spreads a segment over distinct zones)')
    .option('--config <file>', 'JSON file with any of: role, host, port, dhtPort, capacity, bootstrap, zone (flags win)')
    .option('--pointer-ttl <seconds>', 'lifetime of this node\'s pointer records (republished every third of it)', intOption('--pointer-ttl', 1, 7 * 24 * 3600))
    .action(async (opts: NodeStartOptions) => {
      const out = output()
      const config = opts.config === undefined ? {} : await readConfig(resolve(opts.config))
      const role = (opts.role !== 'storage' ? opts.role : config.role ?? opts.role) as ServerRole
      if (role !== 'storage' && role !== 'bootstrap') throw new InvalidArgumentError(`--role must be storage or bootstrap, got ${JSON.stringify(opts.role)}`)
      const capacity = opts.capacity ?? (typeof config.capacity === 'string' ? parseSize(config.capacity) : config.capacity) ?? parseSize('10GiB')
      const dataDir = resolve(opts.dataDir)
      const logger = createLogger('node')
      const seeds = seedsOf(opts.bootstrap, config.bootstrap)
      const zone = opts.zone ?? config.zone
      // Loaded on demand: the node server and its DHT (kadence), which only this command's action needs.
      const { startNode } = await import('../../node/index.js')
      const running = await startNode({
        role,
        dataDir,
        host: opts.host ?? config.host ?? '127.0.0.1',
        port: opts.port ?? config.port ?? 0,
        dhtPort: opts.dhtPort ?? config.dhtPort ?? 0,
        bootstrap: seeds,
        capacity: role === 'storage' ? capacity : undefined,
        zone,
        pointerTtlMs: opts.pointerTtl === undefined ? undefined : opts.pointerTtl * second,
        logger
      })
      const address = running.address()
      const stats = running.store?.stats()
      logger.info({ nodeId: running.identity.id, role, ...address, ...stats }, role === 'storage' ? 'BatNode and KadNode listening' : 'bootstrap KadNode listening')
      out.result({
        event: 'ready',
        role,
        nodeId: running.identity.id,
        host: address.host,
        ...(address.port === undefined ? {} : { port: address.port }),
        dhtPort: address.dhtPort,
        dataDir,
        pid: process.pid,
        ...(zone === undefined ? {} : { zone }),
        bootstrap: seeds.map(s => `${s.host}:${s.port}`),
        ...(stats === undefined ? {} : { capacity: stats.capacity, used: stats.used, pieces: stats.pieces })
      }, (r: { nodeId: string }) => role === 'storage'
        ? `BatNode ${r.nodeId} listening on ${address.host}:${address.port ?? ''} (DHT ${address.dhtPort})`
        : `bootstrap ${r.nodeId} listening on ${address.host}:${address.dhtPort}`)
      await new Promise<void>(resolvePromise => {
        const stop = (sig: string): void => {
          logger.info({ signal: sig }, 'stopping')
          running.stop().then(() => {
            logger.info('stopped')
            resolvePromise()
          }, err => {
            logger.error({ err }, 'stop failed')
            process.exitCode = 1
            resolvePromise()
          })
        }
        process.once('SIGTERM', () => { stop('SIGTERM') })
        process.once('SIGINT', () => { stop('SIGINT') })
      })
    })
}

import type { Command } from 'commander'
import { isIP } from 'node:net'
import { resolve } from 'node:path'
import type { AbortOptions } from '../core/abort.js'
import { InvalidArgumentError } from '../core/errors.js'
import { createLogger } from '../core/logger.js'
import { VERSION } from '../core/version.js'
import { generateIdentity } from '../crypto/keys.js'
import { dhtNetwork, staticNetwork, type StorageNetwork } from '../client/index.js'
import type { Dht, DhtAddress } from '../dht/index.js'
import { testnetBootstraps } from '../testnet/index.js'
import { parseContactList, type Contact, type PieceClient } from '../transfer/index.js'
import { nodesOption } from './options.js'

export interface NetworkCliOptions { nodes?: Contact[], bootstrap?: Contact[], testnet?: string }

/** --bootstrap, --testnet and --nodes: how every client command finds the network. */
/** True when any of the network flags or variables is set. */
export function networkGiven (opts: NetworkCliOptions): boolean {
  return opts.nodes !== undefined || opts.bootstrap !== undefined || opts.testnet !== undefined ||
    env('BATCHAIN_NODES') !== undefined || env('BATCHAIN_BOOTSTRAP') !== undefined || env('BATCHAIN_TESTNET_DIR') !== undefined
}

export function addNetworkOptions (cmd: Command): Command {
  return cmd
    .option('--bootstrap <list>', 'find nodes through the DHT via these bootstrap nodes, HOST:PORT,... (repeatable; also BATCHAIN_BOOTSTRAP)', nodesOption)
    .option('--testnet <dir>', 'find nodes through the DHT of a local testnet (its bootstraps; also BATCHAIN_TESTNET_DIR)')
    .option('--nodes <list>', 'use exactly these storage nodes, HOST:PORT,..., without the DHT (repeatable; also BATCHAIN_NODES)', nodesOption)
}

type Source = { kind: 'static', nodes: Contact[], from: string } | { kind: 'dht', seeds: DhtAddress[], from: string }

function env (name: string): string | undefined {
  const value = process.env[name]
  return value === undefined || value.trim() === '' ? undefined : value
}

/** Flags first (--nodes, --bootstrap, --testnet), then the same order in the environment. */
async function sourceOf (opts: NetworkCliOptions): Promise<Source> {
  const given = [opts.nodes, opts.bootstrap, opts.testnet].filter(v => v !== undefined).length
  if (given > 1) throw new InvalidArgumentError('Give only one of --nodes, --bootstrap and --testnet')
  if (opts.nodes !== undefined) return { kind: 'static', nodes: opts.nodes, from: '--nodes' }
  if (opts.bootstrap !== undefined) return { kind: 'dht', seeds: opts.bootstrap, from: '--bootstrap' }
  if (opts.testnet !== undefined) return { kind: 'dht', seeds: await testnetBootstraps(resolve(opts.testnet)), from: `--testnet ${opts.testnet}` }
  const nodes = env('BATCHAIN_NODES')
  if (nodes !== undefined) return { kind: 'static', nodes: parseContactList(nodes), from: 'BATCHAIN_NODES' }
  const bootstrap = env('BATCHAIN_BOOTSTRAP')
  if (bootstrap !== undefined) return { kind: 'dht', seeds: parseContactList(bootstrap), from: 'BATCHAIN_BOOTSTRAP' }
  const testnet = env('BATCHAIN_TESTNET_DIR')
  if (testnet !== undefined) return { kind: 'dht', seeds: await testnetBootstraps(resolve(testnet)), from: 'BATCHAIN_TESTNET_DIR' }
  throw new InvalidArgumentError('No network given: pass --bootstrap HOST:PORT, --testnet DIR or --nodes HOST:PORT,... (or set BATCHAIN_BOOTSTRAP, BATCHAIN_TESTNET_DIR or BATCHAIN_NODES)')
}

export interface OpenNetwork {
  network: StorageNetwork
  /** The client KadNode, when the network is found through the DHT. */
  dht?: Dht
  /** Which flag or variable the network came from. */
  from: string
  close: () => Promise<void>
}

/**
 * The network a client command talks to. Through the DHT the command runs a short-lived KadNode
 * of role client (a fresh identity: it only asks, and no routing table keeps it).
 */
export async function openNetwork (opts: NetworkCliOptions, client: PieceClient, options: AbortOptions = {}): Promise<OpenNetwork> {
  const source = await sourceOf(opts)
  if (source.kind === 'static') {
    const network = staticNetwork(source.nodes, client, createLogger('locator'))
    return { network, from: source.from, close: async () => { await network.close() } }
  }
  const first = source.seeds[0]?.host ?? '127.0.0.1'
  // Listen where the seeds can answer: loopback for a local network, every interface otherwise.
  const host = first === 'localhost' || first.startsWith('127.') || first === '::1' ? (isIP(first) === 6 ? '::1' : '127.0.0.1') : (isIP(first) === 6 ? '::' : '0.0.0.0')
  // Loaded on demand: the DHT pulls in kadence, which a --nodes command never needs.
  const { createDht } = await import('../dht/index.js')
  const dht = await createDht({ identity: generateIdentity(), role: 'client', host, port: 0, version: VERSION, logger: createLogger('dht') }, options)
  try {
    await dht.join(source.seeds, options)
  } catch (err) {
    await dht.stop()
    throw err
  }
  const network = dhtNetwork({ dht, logger: createLogger('dht-network') })
  return {
    network,
    dht,
    from: source.from,
    close: async () => {
      await network.close()
      await dht.stop()
    }
  }
}

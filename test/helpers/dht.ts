import { join } from 'node:path'
import pLimit from 'p-limit'
import { silentLogger } from '../../src/core/logger.js'
import { generateIdentity, type Identity } from '../../src/crypto/keys.js'
import { createDht, dhtKeyOf, sortByDistance, type Dht, type DhtKey, type LocalNodeFacts, type NodeRole } from '../../src/dht/index.js'
import type { DhtOptions } from '../../src/dht/options.js'

/**
 * In-process DHT networks on 127.0.0.1: every node is a real kadence node on its own UDP socket
 * (port 0: the kernel picks a free one).
 */

export interface DhtNode {
  dht: Dht
  identity: Identity
  dataDir: string | undefined
}

export interface DhtNetworkOptions {
  /** Options for every node (identity, role, host, port are set here). */
  options?: Partial<DhtOptions>
  /** Give each node a data dir under this directory (servers persist there). */
  dataRoot?: string
  /** Joins in flight at once (each through the first node plus up to 2 earlier ones). @defaultValue 4 */
  joinConcurrency?: number
  /** Role of nodes after the first (the first is a bootstrap). @defaultValue 'storage' */
  role?: NodeRole
  /** facts() of storage nodes. @defaultValue a piece server at port 1000+i, 1 GB free */
  facts?: (index: number) => LocalNodeFacts
}

/** Fast, quiet settings for tests: short RPC deadline, saves soon after changes. */
export const TEST_DHT_OPTIONS: Partial<DhtOptions> = {
  rpcTimeoutMs: 1000,
  saveDelayMs: 50,
  infoCacheMs: 0,
  logger: silentLogger()
}

export async function startDhtNode (options: Partial<DhtOptions> & { role: NodeRole }, dataDir?: string, identity = generateIdentity()): Promise<DhtNode> {
  const dht = await createDht({
    ...TEST_DHT_OPTIONS,
    host: '127.0.0.1',
    port: 0,
    ...options,
    identity,
    ...(dataDir === undefined ? {} : { dataDir })
  })
  return { dht, identity, dataDir }
}

export interface DhtNetwork {
  nodes: DhtNode[]
  /** Stops every node still running. */
  stop: () => Promise<void>
}

/** n nodes: a bootstrap, then n - 1 nodes each joining through the bootstrap and two earlier nodes. */
export async function startDhtNetwork (n: number, options: DhtNetworkOptions = {}): Promise<DhtNetwork> {
  const nodes: DhtNode[] = []
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map(async node => { await node.dht.stop() }))
  }
  try {
    const dir = (i: number): string | undefined => options.dataRoot === undefined ? undefined : join(options.dataRoot, `node-${i}`)
    const facts = options.facts ?? ((i: number): LocalNodeFacts => ({ piece: { host: '127.0.0.1', port: 1000 + i }, capacity: 1e9, free: 1e9, reachability: 'direct' }))
    nodes.push(await startDhtNode({ ...options.options, role: 'bootstrap' }, dir(0)))
    const started = await Promise.all(Array.from({ length: n - 1 }, async (_, i) => {
      const role = options.role ?? 'storage'
      return await startDhtNode({ ...options.options, role, ...(role === 'storage' ? { facts: () => facts(i + 1) } : {}) }, dir(i + 1))
    }))
    const limit = pLimit(options.joinConcurrency ?? 4)
    const joined: DhtNode[] = []
    await Promise.all(started.map(async node => await limit(async () => {
      const seeds = [nodes[0]!, ...pick(joined, 2)].map(s => s.dht.address())
      nodes.push(node)
      await node.dht.join(seeds)
      joined.push(node)
    })))
    return { nodes, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

function pick<T> (items: readonly T[], count: number): T[] {
  const copy = [...items]
  const out: T[] = []
  while (out.length < count && copy.length > 0) out.push(copy.splice(Math.floor(Math.random() * copy.length), 1)[0]!)
  return out
}

/** The true `count` closest running server nodes to `key` (brute force), excluding `exclude`. */
export function bruteForceClosest (nodes: readonly DhtNode[], key: DhtKey, count: number, exclude?: DhtKey): DhtKey[] {
  const keys = nodes.filter(n => n.dht.role !== 'client').map(n => n.dht.key).filter(k => k !== exclude)
  return sortByDistance(keys, key, k => k).slice(0, count)
}

export { dhtKeyOf }

import { randomBytes } from 'node:crypto'
import pLimit from 'p-limit'
import { throwIfAborted } from '../../src/core/abort.js'
import { silentLogger } from '../../src/core/logger.js'
import { generateIdentity } from '../../src/crypto/keys.js'
import { createDht, dhtKeyOf, sortByDistance, type Dht, type DhtKey } from '../../src/dht/index.js'
import { BatKadNode } from '../../src/dht/kadence-node.js'
import { round, type BenchContext, type BenchGroup, type Figure } from '../harness.js'

/**
 * Kademlia over kadence, in-process on loopback: one network grown to 100, 300 and 1000 nodes
 * (BENCH_DHT_SIZES), every node a real kadence node on its own UDP socket, joined the real way
 * (INFO to its seeds, lookup of its own key, refresh of unfilled buckets, contact record).
 * To keep the build cheap, nodes join 4 at a time, each through the first bootstrap plus two random
 * nodes that already joined. At each size:
 *   dht.rpc.nN             median FIND_NODE round trip (single RPC, a raw probe node) — the baseline
 *   dht.lookup.median.nN   median time of closest(random key) from a random node, one lookup at a time
 *   dht.lookup.p95.nN      95th percentile of the same
 *   dht.lookup.hops.nN     median hops (depth of the closest peer found; max and p95 alongside)
 *   dht.lookup.queried.nN  median FIND_NODE RPCs per lookup
 *   dht.lookup.exact.nN    share of sampled lookups whose result is exactly the true K closest (brute force)
 *   dht.join.nN            median time for a fresh node to createDht + join (the last joins of the growth, one at a time)
 * Latency ratios are against the single-RPC baseline of the same run (the machine is shared and
 * noisy). Issue 3 targets at 1000 nodes: median lookup under 30 ms, at most 4 hops.
 */

const SIZES = (process.env.BENCH_DHT_SIZES ?? '100,300,1000').split(',').map(s => Number.parseInt(s, 10)).filter(n => n >= 10)
const LOOKUPS = Number.parseInt(process.env.BENCH_DHT_LOOKUPS ?? '300', 10)
const EXACT_SAMPLE = 50
const JOIN_SAMPLE = 10
const RPC_SAMPLE = 300
const GROW_CONCURRENCY = 4

function quantile (values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
}

const median = (values: readonly number[]): number => quantile(values, 0.5)

/** A latency figure in ms against the single-RPC baseline (kept at µs precision: it is ~0.1 ms). */
function vsRpc (name: string, value: number, rpc: number, extra: Record<string, unknown>): Figure {
  return { name, value: round(value, 2), unit: 'ms', baseline: round(rpc, 3), ratio: round(value / rpc, 1), ...extra }
}

const randomKey = (): DhtKey => randomBytes(20).toString('hex') as DhtKey

function pick<T> (items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!
}

const dht: BenchGroup = async (ctx: BenchContext) => {
  const logger = silentLogger()
  const nodes: Dht[] = []
  const newNode = async (role: 'storage' | 'bootstrap'): Promise<Dht> => await createDht({
    identity: generateIdentity(),
    role,
    host: '127.0.0.1',
    port: 0,
    logger,
    facts: () => ({ piece: { host: '127.0.0.1', port: 1 }, capacity: 1e12, free: 1e12, reachability: 'direct' })
  })
  const probeId = generateIdentity()
  const probe = await BatKadNode.start({ key: dhtKeyOf(probeId.id), publicKey: probeId.publicKey.toString('base64url'), role: 'client', host: '127.0.0.1', port: 0, rpcTimeoutMs: 2000, logger })

  const joinOne = async (): Promise<number> => {
    const started = performance.now()
    const node = await newNode('storage')
    nodes.push(node)
    const others = nodes.slice(1, -1)
    const seeds = [nodes[0]!, ...(others.length > 0 ? [pick(others), pick(others)] : [])].map(n => n.address())
    await node.join(seeds, { signal: ctx.signal })
    return performance.now() - started
  }

  try {
    nodes.push(await newNode('bootstrap'))
    for (const size of SIZES) {
      throwIfAborted(ctx.signal)
      const growStart = performance.now()
      const bulk = Math.max(0, size - nodes.length - JOIN_SAMPLE)
      const limit = pLimit(GROW_CONCURRENCY)
      await Promise.all(Array.from({ length: bulk }, async () => await limit(joinOne)))
      const joins: number[] = []
      while (nodes.length < size) joins.push(await joinOne())
      const grownIn = (performance.now() - growStart) / 1000
      process.stderr.write(`[bench] dht: ${nodes.length} nodes (grown in ${grownIn.toFixed(1)} s)\n`)

      // Baseline: one FIND_NODE round trip from the probe to a random node, interleaved with the
      // lookups so both see the same machine (it is shared: load comes and goes).
      const rtts: number[] = []
      const latencies: number[] = []
      const hops: number[] = []
      const queried: number[] = []
      let exact = 0
      for (let i = 0; i < Math.max(LOOKUPS, RPC_SAMPLE); i++) {
        throwIfAborted(ctx.signal)
        const target = pick(nodes)
        const r = performance.now()
        await probe.request('FIND_NODE', [randomKey()], { key: target.key, ...target.address() }, { signal: ctx.signal })
        rtts.push(performance.now() - r)
        if (i >= LOOKUPS) continue
        const from = pick(nodes)
        const key = randomKey()
        const t = performance.now()
        const result = await from.closest(key, { signal: ctx.signal })
        latencies.push(performance.now() - t)
        hops.push(result.hops)
        queried.push(result.queried)
        if (i < EXACT_SAMPLE) {
          const truth = sortByDistance(nodes.filter(n => n !== from).map(n => n.key), key, k => k).slice(0, 20)
          if (truth.join() === result.peers.map(p => p.key).join()) exact++
        }
      }
      const rpc = median(rtts)
      const n = `n${size}`
      const common = { nodes: size, lookups: LOOKUPS, k: 20, alpha: 3 }
      ctx.emit({ name: `dht.rpc.${n}`, value: round(rpc, 3), unit: 'ms', samples: RPC_SAMPLE, p95: round(quantile(rtts, 0.95), 3), nodes: size })
      ctx.emit(vsRpc(`dht.lookup.median.${n}`, median(latencies), rpc, common))
      ctx.emit(vsRpc(`dht.lookup.p95.${n}`, quantile(latencies, 0.95), rpc, common))
      ctx.emit({ name: `dht.lookup.hops.${n}`, value: median(hops), unit: 'hops', p95: quantile(hops, 0.95), max: Math.max(...hops), mean: round(hops.reduce((a, b) => a + b, 0) / hops.length, 2), ...common })
      ctx.emit({ name: `dht.lookup.queried.${n}`, value: median(queried), unit: 'rpcs', p95: quantile(queried, 0.95), ...common })
      ctx.emit({ name: `dht.lookup.exact.${n}`, value: round(exact / Math.min(EXACT_SAMPLE, LOOKUPS), 3), unit: 'fraction', sample: Math.min(EXACT_SAMPLE, LOOKUPS), nodes: size })
      ctx.emit(vsRpc(`dht.join.${n}`, median(joins), rpc, { nodes: size, joins: joins.length, p95: round(quantile(joins, 0.95), 2), grownInSeconds: round(grownIn) }))
    }
  } finally {
    await probe.close()
    const limit = pLimit(32)
    await Promise.all(nodes.map(async node => await limit(async () => { await node.stop() })))
  }
}

export default dht

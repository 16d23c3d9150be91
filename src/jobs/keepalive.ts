import type { Job } from 'bullmq'
import { randomBytes } from 'node:crypto'
import { deadlineSignal, type AbortOptions } from '../core/abort.js'
import { errorCode, errorMessage } from '../core/errors.js'
import type { NodeId } from '../core/ids.js'
import type { Logger } from '../core/logger.js'
import type { Dht, DhtKey, NodeInfo } from '../dht/types.js'
import type { PieceClient } from '../transfer/index.js'
import { tickOf } from './job-ids.js'
import type { NodeRecord, PingOutcome, Transition } from './node-state.js'
import type { PayloadOf } from './payloads.js'
import { pingJobOptions } from './producer.js'
import type { NodeRegistry } from './registry.js'

/**
 * Keepalive: the scheduler (leader) fires a `keepalive-tick` job every period; its processor fans
 * out one `ping` job per registered node (ids per node and tick, at most one pending per node); a
 * ping job pings the node's piece server (HELLO proves the node id, then PING) and records the
 * outcome in the registry, where node-state.ts decides online / offline / lost.
 *
 * A failed ping is a result, not a job failure: the job completes with `{ ok: false }` and the miss
 * is counted. The job fails (and is retried) only when the registry cannot be written. A ping cut
 * short because the worker is shutting down or lost the job's lock counts as nothing: the signal
 * is rethrown so the job is retried elsewhere rather than a miss being recorded against the node.
 */
export interface KeepaliveDeps {
  registry: NodeRegistry
  /** Used for pings only; give it maxIdlePerPeer 0 so every ping proves a fresh connection. */
  client: PieceClient
  /** When given, a node that misses a ping is looked up by id (it may have moved) and pinged there. */
  dht?: Dht
  logger?: Logger
  now?: () => number
  /**
   * Called when a node becomes lost or returns: the durability loop checks the files it held at
   * once instead of waiting for their next periodic check.
   */
  onTransition?: (nodeId: string, transition: Transition) => Promise<void>
}

export interface PingResult {
  nodeId: string
  ok: boolean
  /** Error code of a failed ping. */
  error?: string
  rttMs?: number
  state?: NodeRecord['state']
  missed?: number
  transition?: Transition
  /** The node was not in the registry (removed since the tick): nothing was pinged. */
  skipped?: 'not-registered'
}

export async function processPing (data: PayloadOf<'keepalive', 'ping'>, deps: KeepaliveDeps, signal?: AbortSignal): Promise<PingResult> {
  const now = deps.now ?? Date.now
  const options = signal === undefined ? {} : { signal }
  const record = await deps.registry.get(data.nodeId, options)
  if (record === undefined) return { nodeId: data.nodeId, ok: false, skipped: 'not-registered' }

  let outcome = await ping(deps.client, record.piece, data.nodeId, data.policy.pingTimeoutMs, now, signal)
  if (!outcome.ok && deps.dht !== undefined) {
    // The node may be up elsewhere (new address after a restart): ask the DHT before counting a miss.
    const found = await deps.dht.findNode(data.nodeId as NodeId, options).catch(() => undefined)
    if (found?.piece !== undefined && (found.piece.host !== record.piece.host || found.piece.port !== record.piece.port)) {
      const moved = await ping(deps.client, found.piece, data.nodeId, data.policy.pingTimeoutMs, now, signal)
      if (moved.ok) {
        await deps.registry.register({ nodeId: data.nodeId, piece: found.piece, dht: found.dht, capacity: found.capacity, free: found.free, zone: found.zone }, options)
        outcome = moved
      }
    }
  }
  const applied = await deps.registry.recordPing(data.nodeId, outcome, data.policy, options)
  if (applied === undefined) return { nodeId: data.nodeId, ok: outcome.ok, skipped: 'not-registered' }
  if (applied.transition !== undefined) {
    deps.logger?.info({ nodeId: data.nodeId, transition: applied.transition, missed: applied.record.missed, error: outcome.ok ? undefined : outcome.error }, `node ${applied.transition}`)
    await deps.onTransition?.(data.nodeId, applied.transition)
  }
  return {
    nodeId: data.nodeId,
    ok: outcome.ok,
    ...(outcome.ok ? { rttMs: outcome.rttMs } : { error: outcome.error }),
    state: applied.record.state,
    missed: applied.record.missed,
    ...(applied.transition === undefined ? {} : { transition: applied.transition })
  }
}

async function ping (client: PieceClient, at: { host: string, port: number }, nodeId: string, timeoutMs: number, now: () => number, signal: AbortSignal | undefined): Promise<PingOutcome> {
  const deadline = deadlineSignal(signal, timeoutMs)
  try {
    const { rtt } = await client.ping({ host: at.host, port: at.port, nodeId: nodeId as NodeId }, { signal: deadline.signal })
    return { ok: true, at: now(), rttMs: Math.round(rtt * 1000) / 1000 }
  } catch (err) {
    // Our own shutdown or a lost lock is not the node's fault: let the job be retried.
    if (signal?.aborted === true) throw err
    return { ok: false, at: now(), error: errorCode(err) }
  } finally {
    deadline.clear()
  }
}

/**
 * The fan-out of one keepalive tick: a ping job per registered storage node. The tick is the
 * period the tick job was due in (scheduledAt), so a tick job run twice (retried, or recovered
 * after a stall) adds the same job ids and nothing twice.
 */
export async function processKeepaliveTick (job: Pick<Job, 'id' | 'timestamp' | 'delay'>, data: PayloadOf<'keepalive', 'keepalive-tick'>, deps: { registry: NodeRegistry, dht?: Dht, logger?: Logger, add: (jobs: Array<{ name: 'ping', data: PayloadOf<'keepalive', 'ping'>, opts: ReturnType<typeof pingJobOptions> }>) => Promise<unknown> }, signal?: AbortSignal): Promise<{ tick: number, nodes: number, discovered?: number }> {
  const tick = tickOf(scheduledAt(job), data.everyMs)
  const options = signal === undefined ? {} : { signal }
  let discovered: number | undefined
  if ((data.discover ?? 0) > 0 && deps.dht !== undefined) {
    discovered = await discoverNodes(deps.dht, deps.registry, data.discover ?? 0, deps.logger, options)
  }
  const nodes = await deps.registry.list(options)
  const jobs = nodes.map(n => ({ name: 'ping' as const, data: { nodeId: n.nodeId, tick, policy: data.policy }, opts: pingJobOptions(n.nodeId, tick) }))
  if (jobs.length > 0) await deps.add(jobs)
  return { tick, nodes: jobs.length, ...(discovered === undefined ? {} : { discovered }) }
}

/**
 * Registers the storage nodes found near `samples` random keys (plus the ones the DHT already
 * knows from them): over successive ticks this covers the network, as Kademlia's bucket refresh
 * does. Only verified NodeInfo (signed, key-bound) is registered. Returns the number of new nodes.
 */
export async function discoverNodes (dht: Dht, registry: NodeRegistry, samples: number, logger: Logger | undefined, options: AbortOptions): Promise<number> {
  const found = new Map<string, NodeInfo>()
  await Promise.all(Array.from({ length: samples }, async () => {
    try {
      const near = await dht.storageNodesNear(randomBytes(20).toString('hex') as DhtKey, { count: 20, minFree: 0, signal: options.signal })
      for (const info of near) if (info.piece !== undefined) found.set(info.nodeId, info)
    } catch (err) {
      if (options.signal?.aborted === true) throw err
      logger?.warn({ err: errorMessage(err) }, 'discovery lookup failed')
    }
  }))
  const known = new Set((await registry.list(options)).map(n => n.nodeId))
  let added = 0
  for (const info of found.values()) {
    const piece = info.piece as NonNullable<NodeInfo['piece']>
    await registry.register({ nodeId: info.nodeId, piece: { host: piece.host, port: piece.port }, dht: { host: info.dht.host, port: info.dht.port }, capacity: info.capacity, free: info.free, ...(info.zone === undefined ? {} : { zone: info.zone }) }, options)
    if (!known.has(info.nodeId)) added++
  }
  if (added > 0) logger?.info({ added, total: known.size + added }, 'registered storage nodes found through the DHT')
  return added
}

/**
 * When a scheduler's job was due. BullMQ names the jobs of a job scheduler
 * `repeat:<scheduler id>:<due time in ms>`, one per iteration, and keeps the id across retries;
 * the job's own timestamp is when it was created (the previous iteration's run), which can fall
 * in the previous period. Jobs added by hand fall back to timestamp + delay.
 */
export function scheduledAt (job: Pick<Job, 'id' | 'timestamp' | 'delay'>): number {
  const due = /^repeat:.+:(\d{1,16})$/.exec(job.id ?? '')
  return due !== null ? Number(due[1]) : job.timestamp + (job.delay ?? 0)
}

import { InvalidArgumentError } from '../core/errors.js'
import type { PlannedProcess } from './kinds.js'

export interface TestnetPlanOptions {
  /** Storage nodes (node-0 … node-(N-1)). */
  nodes: number
  /** Bootstrap nodes (bootstrap-0 …), at least 1. @defaultValue 2 */
  bootstraps?: number
  /** Address every process listens on. @defaultValue '127.0.0.1' */
  host?: string
  /** Bytes of pieces each storage node accepts. @defaultValue the node's own default */
  capacity?: number
  /** When set, storage nodes are labelled zone-0 … zone-(Z-1) round-robin. */
  zones?: number
  /** BATCHAIN_LOG_LEVEL of every process. @defaultValue 'info' */
  logLevel?: string
  /**
   * When set, the jobs processes start after the storage nodes: Redis, then a worker, a scheduler
   * and (unless `dashboard: false`) the dashboard. Absent: nodes only (`testnet up --no-jobs`).
   */
  jobs?: TestnetJobsOptions
}

export interface TestnetJobsOptions {
  /** Seconds a node may be offline before its pieces count as lost (the scheduler's --grace). @defaultValue 600 */
  grace?: number
  /** Seconds between keepalive rounds (the scheduler's --keepalive-every). @defaultValue the scheduler's own */
  keepaliveEvery?: number
  /** Start the dashboard. @defaultValue true */
  dashboard?: boolean
  /** Redis's port. @defaultValue a free port */
  redisPort?: number
}

/** The offline grace period of a testnet's scheduler, seconds, unless told otherwise. */
export const DEFAULT_TESTNET_GRACE = 600
/** Redis listens on loopback only, whatever the nodes' host. */
export const TESTNET_REDIS_HOST = '127.0.0.1'

export const MAX_TESTNET_NODES = 1000
export const MAX_TESTNET_BOOTSTRAPS = 16

/**
 * What `testnet up` starts, in stages: bootstrap-0 alone (it has nobody to join), then the other
 * bootstraps (joining bootstrap-0), then every storage node (joining all bootstraps); with `jobs`,
 * then Redis, then the worker, scheduler and dashboard (all three use that Redis).
 */
export function planTestnet (options: TestnetPlanOptions): PlannedProcess[] {
  const { nodes } = options
  const bootstraps = options.bootstraps ?? 2
  const host = options.host ?? '127.0.0.1'
  const logLevel = options.logLevel ?? 'info'
  if (!Number.isInteger(nodes) || nodes < 0 || nodes > MAX_TESTNET_NODES) throw new InvalidArgumentError(`nodes must be an integer from 0 to ${MAX_TESTNET_NODES}`)
  if (!Number.isInteger(bootstraps) || bootstraps < 1 || bootstraps > MAX_TESTNET_BOOTSTRAPS) throw new InvalidArgumentError(`bootstraps must be an integer from 1 to ${MAX_TESTNET_BOOTSTRAPS}`)
  if (options.zones !== undefined && (!Number.isInteger(options.zones) || options.zones < 1 || options.zones > Math.max(1, nodes))) {
    throw new InvalidArgumentError(`zones must be an integer from 1 to the number of nodes (${nodes})`)
  }
  if (options.capacity !== undefined && (!Number.isSafeInteger(options.capacity) || options.capacity < 0)) throw new InvalidArgumentError('capacity must be a non-negative number of bytes')
  if (host.trim() === '') throw new InvalidArgumentError('host must not be empty')
  const jobs = options.jobs
  const grace = jobs?.grace ?? DEFAULT_TESTNET_GRACE
  if (!Number.isSafeInteger(grace) || grace < 0) throw new InvalidArgumentError('grace must be a non-negative number of seconds')
  if (jobs?.keepaliveEvery !== undefined && (!Number.isSafeInteger(jobs.keepaliveEvery) || jobs.keepaliveEvery < 1)) throw new InvalidArgumentError('keepaliveEvery must be a positive number of seconds')
  if (jobs?.redisPort !== undefined && (!Number.isInteger(jobs.redisPort) || jobs.redisPort < 1 || jobs.redisPort > 65535)) throw new InvalidArgumentError('redisPort must be a port number')
  const plan: PlannedProcess[] = []
  for (let i = 0; i < bootstraps; i++) {
    plan.push({ name: `bootstrap-${i}`, role: 'bootstrap', stage: i === 0 ? 0 : 1, host, logLevel })
  }
  for (let i = 0; i < nodes; i++) {
    plan.push({
      name: `node-${i}`,
      role: 'storage',
      stage: 2,
      host,
      logLevel,
      ...(options.zones === undefined ? {} : { zone: `zone-${i % options.zones}` }),
      ...(options.capacity === undefined ? {} : { capacity: options.capacity })
    })
  }
  if (jobs !== undefined) {
    plan.push({ name: 'redis', role: 'redis', stage: 3, host: TESTNET_REDIS_HOST, logLevel, ...(jobs.redisPort === undefined ? {} : { port: jobs.redisPort }) })
    plan.push({ name: 'worker', role: 'worker', stage: 4, host, logLevel })
    plan.push({ name: 'scheduler', role: 'scheduler', stage: 4, host, logLevel, grace, ...(jobs.keepaliveEvery === undefined ? {} : { keepaliveEvery: jobs.keepaliveEvery }) })
    if (jobs.dashboard !== false) plan.push({ name: 'dashboard', role: 'dashboard', stage: 4, host, logLevel })
  }
  return plan
}

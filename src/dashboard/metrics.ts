import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import { errorMessage } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import { NODE_STATES } from '../jobs/node-state.js'
import { QUEUE_NAMES } from '../jobs/payloads.js'
import { COUNTED_JOB_STATES, type DashboardData } from './data.js'
import { summarize, type FileHealthStatus } from './models.js'

/**
 * Prometheus metrics on a registry of our own (never prom-client's global one, so two dashboards
 * in a process, or a library that registers on the global, cannot clash): Node's default process
 * metrics, plus gauges computed from Redis at every scrape. When Redis cannot be read the scrape
 * still answers, with `batchain_dashboard_redis_up 0` and without the Redis-derived series (a
 * stale value would look current).
 */
export interface DashboardMetrics {
  readonly registry: Registry
  readonly contentType: string
  /** Reads Redis, updates the gauges and returns the exposition text. */
  scrape: () => Promise<string>
}

const FILE_STATUSES: readonly FileHealthStatus[] = ['unchecked', 'healthy', 'degraded', 'unrecoverable']

export function createMetrics (data: DashboardData, logger?: Logger): DashboardMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const registers = [registry]
  const redisUp = new Gauge({ name: 'batchain_dashboard_redis_up', help: '1 when the last scrape could read Redis, 0 otherwise', registers })
  const scrapeErrors = new Counter({ name: 'batchain_dashboard_scrape_errors_total', help: 'Scrapes that could not read Redis', registers })
  const nodes = new Gauge({ name: 'batchain_nodes', help: 'Registered storage nodes by keepalive state', labelNames: ['state'] as const, registers })
  const untrusted = new Gauge({ name: 'batchain_nodes_untrusted', help: 'Nodes whose audit reputation is under the trust threshold', registers })
  const capacity = new Gauge({ name: 'batchain_capacity_bytes', help: 'Capacity reported by registered nodes (nodes that reported none are left out)', registers })
  const free = new Gauge({ name: 'batchain_free_bytes', help: 'Free space reported by registered nodes', registers })
  const files = new Gauge({ name: 'batchain_files', help: 'Registered files by health at their last check', labelNames: ['status'] as const, registers })
  const segmentsDegraded = new Gauge({ name: 'batchain_segments_degraded', help: 'Segments under their repair threshold at the last health check', registers })
  const piecesGood = new Gauge({ name: 'batchain_pieces_good', help: 'Good pieces of checked files', registers })
  const piecesTotal = new Gauge({ name: 'batchain_pieces_total', help: 'All pieces of checked files (segments × (k + m))', registers })
  const nodeAuditFailures = new Gauge({ name: 'batchain_node_audit_failures', help: 'Audit challenges failed, summed over registered nodes', registers })
  const filesAuditFailed = new Gauge({ name: 'batchain_files_last_audit_failed', help: 'Files whose last audit found failed or missing pieces', registers })
  const repairs = new Gauge({ name: 'batchain_repairs', help: 'Segment repairs that rebuilt pieces, summed over files', registers })
  const piecesRebuilt = new Gauge({ name: 'batchain_repair_pieces_rebuilt', help: 'Pieces rebuilt by repairs, summed over files', registers })
  const queueJobs = new Gauge({ name: 'batchain_queue_jobs', help: 'Jobs per queue and state', labelNames: ['queue', 'state'] as const, registers })
  const fromRedis = [nodes, untrusted, capacity, free, files, segmentsDegraded, piecesGood, piecesTotal, nodeAuditFailures, filesAuditFailed, repairs, piecesRebuilt, queueJobs]

  async function update (): Promise<void> {
    const [records, counts] = await Promise.all([data.all(), data.queueCounts()])
    const s = summarize(records.nodes, records.files, data.reputation, Date.now())
    for (const state of NODE_STATES) nodes.set({ state }, s.nodes.byState[state])
    untrusted.set(s.nodes.total - s.nodes.trusted)
    capacity.set(s.nodes.capacity)
    free.set(s.nodes.free)
    for (const status of FILE_STATUSES) files.set({ status }, s.files.byStatus[status])
    segmentsDegraded.set(s.files.segmentsDegraded)
    piecesGood.set(s.files.piecesGood)
    piecesTotal.set(s.files.piecesTotal)
    nodeAuditFailures.set(s.nodes.auditFailures)
    filesAuditFailed.set(s.files.lastAuditFailed)
    repairs.set(s.repairs.count)
    piecesRebuilt.set(s.repairs.piecesRebuilt)
    for (const queue of QUEUE_NAMES) {
      for (const state of COUNTED_JOB_STATES) {
        const n = counts[queue]?.[state]
        if (n !== undefined) queueJobs.set({ queue, state }, n)
      }
    }
  }

  // One scrape at a time: a second one would reset gauges the first is filling in.
  let last: Promise<unknown> = Promise.resolve()
  return {
    registry,
    contentType: registry.contentType,
    scrape: async () => {
      const run = last.then(scrapeOnce, scrapeOnce)
      last = run
      return await run
    }
  }

  async function scrapeOnce (): Promise<string> {
    for (const g of fromRedis) g.reset()
    try {
      await update()
      redisUp.set(1)
    } catch (err) {
      for (const g of fromRedis) g.reset()
      redisUp.set(0)
      scrapeErrors.inc()
      logger?.warn({ err: errorMessage(err) }, 'metrics scrape could not read Redis')
    }
    return await registry.metrics()
  }
}

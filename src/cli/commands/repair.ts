import type { Command } from 'commander'
import { InvalidArgumentError } from '../../core/errors.js'
import { Durability } from '../../jobs/durability.js'
import { addRedisOption, openDurability, type RedisCliOptions } from '../durability.js'
import { addNetworkOptions, type NetworkCliOptions } from '../network.js'
import { intOption } from '../options.js'
import type { Output } from '../output.js'
import { interruptSignal } from '../signals.js'

interface RepairCliOptions extends NetworkCliOptions, RedisCliOptions { now?: boolean, segment?: number }

interface RepairSummary {
  manifestId: string
  segments: number
  repaired: Array<{ segment: number, goodBefore: number, goodAfter: number, rebuilt: number, nodes: string[] }>
  failed: Array<{ segment: number, code: string, reason: string }>
  healthy: boolean
}

export function registerRepair (program: Command, output: () => Output): void {
  const cmd = addNetworkOptions(program.command('repair')
    .description('repair a file: queue a health check (its degraded segments get repair jobs), or with --now rebuild missing pieces here (a verify capability is enough)')
    .argument('<capability>', 'read or verify capability (only the verify part is used)'))
    .option('--now', 'check and repair here, instead of queueing jobs')
    .option('--segment <n>', 'only this segment', intOption('--segment', 0, 1 << 24))
  addRedisOption(cmd, 'holders are judged by its keepalive state and reputations, and the repair recorded; without --now the jobs are queued there')
    .action(async (text: string, opts: RepairCliOptions) => {
      const out = output()
      const verify = `batchain:v1:${Durability.verifyOf(text).manifestId}`
      const { signal, dispose } = interruptSignal()
      const open = await openDurability(opts, { signal, needRedis: opts.now !== true })
      try {
        if (opts.now !== true) {
          const record = await open.durability.register(verify, {}, { signal })
          const producer = open.producer as NonNullable<typeof open.producer>
          const job = opts.segment === undefined
            ? await producer.enqueueRepairCheck(verify, record.manifestId, { signal })
            : await producer.enqueueRepair(verify, record.manifestId, opts.segment, 0, { signal })
          out.result({ queued: true, queue: 'repair', jobId: job.id, manifestId: record.manifestId, capability: verify }, (r: { jobId: string }) => `queued repair job ${r.jobId} (watch it with the dashboard, or run it here with --now)`)
          return
        }
        const check = await open.durability.check(verify, { signal })
        if (opts.segment !== undefined && opts.segment >= check.segments.length) throw new InvalidArgumentError(`--segment ${opts.segment}: the file has ${check.segments.length} segments`)
        const todo = opts.segment !== undefined ? [opts.segment] : check.degraded.map(d => d.index)
        const summary: RepairSummary = { manifestId: check.manifestId, segments: check.segments.length, repaired: [], failed: [], healthy: false }
        for (const segment of todo) {
          try {
            const r = await open.durability.repair(verify, segment, { signal })
            summary.repaired.push({ segment, goodBefore: r.goodBefore, goodAfter: r.goodAfter, rebuilt: r.skipped ? 0 : r.placed.length, nodes: r.placed.map(p => p.node.nodeId) })
          } catch (err) {
            if (signal.aborted) throw err
            const e = err as { code?: string, message?: string }
            summary.failed.push({ segment, code: e.code ?? 'BATCHAIN_ERR_INTERNAL', reason: e.message ?? String(err) })
          }
        }
        summary.healthy = summary.failed.length === 0 && summary.repaired.every(r => r.goodAfter >= check.threshold)
        out.result(summary, (s: RepairSummary) => [
          ...s.repaired.map(r => `segment ${r.segment}: ${r.goodBefore} → ${r.goodAfter} good pieces (${r.rebuilt} rebuilt)`),
          ...s.failed.map(f => `segment ${f.segment}: FAILED ${f.reason} (${f.code})`),
          todo.length === 0 ? `all ${s.segments} segments healthy: nothing to repair` : `${s.repaired.length} segments repaired, ${s.failed.length} failed`
        ].join('\n'))
        if (summary.failed.length > 0) process.exitCode = 3
      } finally {
        await open.close()
        dispose()
      }
    })
}

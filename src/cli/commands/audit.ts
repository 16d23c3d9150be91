import type { Command } from 'commander'
import type { AuditReport } from '../../client/index.js'
import { Durability } from '../../jobs/durability.js'
import { addRedisOption, openDurability, type RedisCliOptions } from '../durability.js'
import { addNetworkOptions, type NetworkCliOptions } from '../network.js'
import { intOption } from '../options.js'
import type { Output } from '../output.js'
import { interruptSignal } from '../signals.js'

interface AuditCliOptions extends NetworkCliOptions, RedisCliOptions { leaves: number, sample?: number, now?: boolean }

export function registerAudit (program: Command, output: () => Output): void {
  const cmd = addNetworkOptions(program.command('audit')
    .description('audit a file: queue an audit job for the workers, or with --now challenge its pieces here for random Merkle leaves (a verify capability is enough)')
    .argument('<capability>', 'read or verify capability (only the verify part is used)'))
    .option('--now', 'run the audit here and print every challenge, instead of queueing a job')
    .option('--leaves <n>', 'leaves challenged per piece', intOption('--leaves', 1, 64), 4)
    .option('--sample <n>', 'pieces challenged per segment, picked at random (default: all with --now, 2 in a job)', intOption('--sample', 1, 256))
  addRedisOption(cmd, 'with --now results are recorded there (reputation, last audit); without --now the job is queued there')
    .action(async (text: string, opts: AuditCliOptions) => {
      const out = output()
      const verify = `batchain:v1:${Durability.verifyOf(text).manifestId}`
      const { signal, dispose } = interruptSignal()
      const open = await openDurability(opts, { signal, needRedis: opts.now !== true })
      try {
        if (opts.now !== true) {
          const record = await open.durability.register(verify, {}, { signal })
          const tick = Math.floor(Date.now() / 1000)
          const job = await (open.producer as NonNullable<typeof open.producer>).add('audit', 'audit-file', { capability: verify, tick, leavesPerPiece: opts.leaves, ...(opts.sample === undefined ? {} : { samplePerSegment: opts.sample }) }, {}, { signal })
          out.result({ queued: true, queue: 'audit', jobId: job.id, manifestId: record.manifestId, capability: verify }, (r: { jobId: string }) => `queued audit job ${r.jobId} (watch it with the dashboard, or run it here with --now)`)
          return
        }
        const report = await open.durability.audit(verify, { signal, leavesPerPiece: opts.leaves, ...(opts.sample === undefined ? {} : { samplePerSegment: opts.sample }) })
        out.result(report, (r: AuditReport) => [
          ...r.pieces.map(p => `${p.state.padEnd(7)} segment ${p.segment} shard ${p.shard} ${p.pieceId.slice(0, 16)}… ${p.node ?? '-'}${p.reason !== undefined && p.state !== 'ok' ? `  ${p.reason}` : ''}`),
          `${r.ok} ok, ${r.failed} failed, ${r.missing} missing, ${r.unreachable} unreachable`
        ].join('\n'))
        if (report.failed > 0 || report.missing > 0) process.exitCode = 3
      } finally {
        await open.close()
        dispose()
      }
    })
}

import type { Command } from 'commander'
import { createLogger } from '../../core/logger.js'
import { parseCapability } from '../../crypto/capability.js'
import { auditFile, type AuditReport } from '../../client/index.js'
import { PieceClient } from '../../transfer/index.js'
import { addNetworkOptions, openNetwork, type NetworkCliOptions } from '../network.js'
import { intOption } from '../options.js'
import type { Output } from '../output.js'
import { interruptSignal } from '../signals.js'

interface AuditCliOptions extends NetworkCliOptions { leaves: number }

export function registerAudit (program: Command, output: () => Output): void {
  addNetworkOptions(program.command('audit')
    .description('challenge every piece of a file for random Merkle leaves (a verify capability is enough)')
    .argument('<capability>', 'read or verify capability'))
    .option('--leaves <n>', 'leaves challenged per piece', intOption('--leaves', 1, 64), 4)
    .action(async (text: string, opts: AuditCliOptions) => {
      const out = output()
      const capability = parseCapability(text)
      const client = new PieceClient()
      const { signal, dispose } = interruptSignal()
      const { network, close } = await openNetwork(opts, client, { signal })
      try {
        const report = await auditFile(capability, { locator: network.locator, client, leavesPerPiece: opts.leaves, signal, logger: createLogger('audit') })
        out.result(report, (r: AuditReport) => [
          ...r.pieces.map(p => `${p.state.padEnd(7)} segment ${p.segment} shard ${p.shard} ${p.pieceId.slice(0, 16)}… ${p.node ?? '-'}${p.reason !== undefined && p.state !== 'ok' ? `  ${p.reason}` : ''}`),
          `${r.ok} ok, ${r.failed} failed, ${r.missing} missing`
        ].join('\n'))
        if (report.failed > 0 || report.missing > 0) process.exitCode = 3
      } finally {
        await close()
        client.close()
        dispose()
      }
    })
}

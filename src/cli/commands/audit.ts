import type { Command } from 'commander'
import { createLogger } from '../../core/logger.js'
import { parseCapability } from '../../crypto/capability.js'
import { StaticLocator, auditFile, type AuditReport } from '../../client/index.js'
import { PieceClient, type Contact } from '../../transfer/index.js'
import { intOption, nodesOption, requireNodes } from '../options.js'
import type { Output } from '../output.js'
import { interruptSignal } from '../signals.js'

interface AuditCliOptions { nodes?: Contact[], leaves: number }

export function registerAudit (program: Command, output: () => Output): void {
  program.command('audit')
    .description('challenge every piece of a file for random Merkle leaves (a verify capability is enough)')
    .argument('<capability>', 'read or verify capability')
    .option('--nodes <list>', 'storage nodes, HOST:PORT,... (repeatable)', nodesOption)
    .option('--leaves <n>', 'leaves challenged per piece', intOption('--leaves', 1, 64), 4)
    .action(async (text: string, opts: AuditCliOptions) => {
      const out = output()
      const capability = parseCapability(text)
      const nodes = requireNodes(opts.nodes)
      const client = new PieceClient()
      const { signal, dispose } = interruptSignal()
      try {
        const report = await auditFile(capability, { locator: new StaticLocator(nodes, client, createLogger('locator')), client, leavesPerPiece: opts.leaves, signal, logger: createLogger('audit') })
        out.result(report, (r: AuditReport) => [
          ...r.pieces.map(p => `${p.state.padEnd(7)} segment ${p.segment} shard ${p.shard} ${p.pieceId.slice(0, 16)}… ${p.node ?? '-'}${p.reason !== undefined && p.state !== 'ok' ? `  ${p.reason}` : ''}`),
          `${r.ok} ok, ${r.failed} failed, ${r.missing} missing`
        ].join('\n'))
        if (report.failed > 0 || report.missing > 0) process.exitCode = 3
      } finally {
        client.close()
        dispose()
      }
    })
}

import type { Command } from 'commander'
import { Durability, type FileCheck } from '../../jobs/durability.js'
import { PIECE_STATE_LETTERS } from '../../jobs/file-state.js'
import { addRedisOption, openDurability, type RedisCliOptions } from '../durability.js'
import { addNetworkOptions, type NetworkCliOptions } from '../network.js'
import type { Output } from '../output.js'
import { interruptSignal } from '../signals.js'

interface StatusCliOptions extends NetworkCliOptions, RedisCliOptions {}

/** The JSON document of `batchain status` (stable: scripts read it). */
export interface StatusDocument {
  manifestId: string
  capability: string
  dataShards: number
  parityShards: number
  /** A segment with fewer good pieces is repaired. */
  threshold: number
  healthy: boolean
  minGood: number
  degraded: number[]
  /** Per piece: the holder it counts on (node, nodeId: the best one) and every holder found with its own state. */
  segments: Array<{ index: number, good: number, total: number, pieces: Array<{ id: string, node: string | null, nodeId: string | null, state: string, holders: Array<{ node: string, nodeId: string, state: string }> }> }>
}

export function toStatus (check: FileCheck): StatusDocument {
  return {
    manifestId: check.manifestId,
    capability: check.capability,
    dataShards: check.dataShards,
    parityShards: check.parityShards,
    threshold: check.threshold,
    healthy: check.degraded.length === 0,
    minGood: Math.min(...check.segments.map(s => s.good)),
    degraded: check.degraded.map(d => d.index).sort((a, b) => a - b),
    segments: check.segments.map(s => ({ index: s.index, good: s.good, total: s.total, pieces: s.pieces.map(p => ({ id: p.id, node: p.node, nodeId: p.nodeId, state: p.state, holders: p.holders })) }))
  }
}

export function registerStatus (program: Command, output: () => Output): void {
  const cmd = addNetworkOptions(program.command('status')
    .description('health of every segment of a file: good pieces of k + m, and each piece\'s holder and state (a verify capability is enough)')
    .argument('<capability>', 'read or verify capability (only the verify part is used)'))
  addRedisOption(cmd, 'holders are judged by keepalive state (lost), reputation (untrusted) and failed audits (bad); without it every holder that answers counts')
    .action(async (text: string, opts: StatusCliOptions) => {
      const out = output()
      const verify = `batchain:v1:${Durability.verifyOf(text).manifestId}`
      const { signal, dispose } = interruptSignal()
      const open = await openDurability(opts, { signal })
      try {
        const status = toStatus(await open.durability.check(verify, { signal }))
        out.result(status, (s: StatusDocument) => [
          `file ${s.manifestId.slice(0, 16)}…  ${s.dataShards}+${s.parityShards}  ${s.segments.length} segments  ${s.healthy ? 'healthy' : `${s.degraded.length} degraded`} (min ${s.minGood}/${s.dataShards + s.parityShards} good)`,
          ...s.segments.map(seg => `  segment ${String(seg.index).padStart(4)}  ${seg.good}/${seg.total}  ${seg.pieces.map(p => PIECE_STATE_LETTERS[p.state as keyof typeof PIECE_STATE_LETTERS] ?? '?').join('')}`),
          '  (g good, u untrusted, l lost, b bad, m missing)'
        ].join('\n'))
        if (!status.healthy) process.exitCode = 3
      } finally {
        await open.close()
        dispose()
      }
    })
}

import type { HolderJudge } from '../client/index.js'
import { isBadHolder, type FileRecord } from './file-state.js'
import type { NodeRecord } from './node-state.js'
import { isTrusted, type ReputationPolicy } from './reputation.js'

/**
 * How the durability loop judges a holder of a piece (see client/health.ts):
 *   bad        it failed an audit of this very piece (file record)
 *   lost       keepalive says lost: offline past the grace period
 *   untrusted  its audit reputation is under the threshold
 *   good       otherwise: online, offline within the grace period, or not yet registered (a node
 *              the registry has not pinged yet gets the benefit of the doubt until keepalive
 *              has an opinion; the checker registers it so that keepalive will)
 */
export function registryJudge (nodes: ReadonlyMap<string, NodeRecord>, file: Pick<FileRecord, 'badHolders'> | undefined, policy: Pick<ReputationPolicy, 'threshold'>): HolderJudge {
  return (pieceId, holder) => {
    if (file !== undefined && isBadHolder(file, pieceId, holder.nodeId)) return 'bad'
    const node = nodes.get(holder.nodeId)
    if (node === undefined) return 'good'
    if (node.state === 'lost') return 'lost'
    if (!isTrusted(node, policy)) return 'untrusted'
    return 'good'
  }
}

/** Nodes that get no new pieces: lost or untrusted. */
export function excludedNodes (nodes: Iterable<NodeRecord>, policy: Pick<ReputationPolicy, 'threshold'>): Set<string> {
  const out = new Set<string>()
  for (const n of nodes) if (n.state === 'lost' || n.state === 'offline' || !isTrusted(n, policy)) out.add(n.nodeId)
  return out
}

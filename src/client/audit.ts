import { randomInt } from 'node:crypto'
import type { AbortOptions } from '../core/abort.js'
import { errorCode, errorMessage } from '../core/errors.js'
import type { PieceId } from '../core/ids.js'
import { createLogger, type Logger } from '../core/logger.js'
import type { Capability } from '../crypto/capability.js'
import { leafCount, leafLength, verifyProof } from '../crypto/merkle.js'
import { PieceClient, formatContact } from '../transfer/index.js'
import type { Holder, LocateOptions, PieceLocator } from './locator.js'
import { fetchManifest } from './manifest-store.js'

export interface PieceAudit {
  segment: number
  shard: number
  pieceId: PieceId
  /** HOST:PORT of the holder challenged, or null when no node holds the piece. */
  node: string | null
  nodeId: string | null
  /**
   * ok: every leaf verified. failed: a wrong, malformed or refused answer (counts against the
   * node). missing: no node holds the piece. unreachable: the holder could not be reached in
   * time; it says nothing about the data (keepalive judges availability), so it counts neither way.
   */
  state: 'ok' | 'failed' | 'missing' | 'unreachable'
  /** Leaf indices challenged. */
  leaves: number[]
  code?: string
  reason?: string
}

export interface AuditReport {
  manifestId: PieceId
  pieces: PieceAudit[]
  ok: number
  failed: number
  missing: number
  unreachable: number
  seconds: number
}

export interface AuditOptions extends AbortOptions {
  locator: PieceLocator
  /** Known holder addresses by node id (see LocateOptions.addressOf): no lookup per holder. */
  addressOf?: LocateOptions['addressOf']
  client?: PieceClient
  /** Random leaves challenged per piece and holder. @defaultValue 4 */
  leavesPerPiece?: number
  /** Challenges in flight. @defaultValue 16 */
  concurrency?: number
  /** Pieces challenged per segment, picked at random (every holder of each). @defaultValue all */
  samplePerSegment?: number
  logger?: Logger
}

/**
 * Challenges every holder of every piece for random Merkle leaves and checks the
 * proofs against the piece id (the Merkle root). Needs only the public manifest,
 * so a verify capability is enough: no key is involved.
 */
export async function auditFile (capability: Capability, options: AuditOptions): Promise<AuditReport> {
  const started = performance.now()
  const log = options.logger ?? createLogger('audit')
  const client = options.client ?? new PieceClient()
  try {
    const { manifest } = await fetchManifest(capability.manifestId, options.locator, client, { signal: options.signal, log })
    const sample = options.samplePerSegment
    const refs = manifest.segments.flatMap(s => {
      const all = s.pieces.map((p, shard) => ({ segment: s.index, shard, id: p.id, size: p.size }))
      return sample === undefined || sample >= all.length ? all : pickRandom(all, sample)
    })
    const holders = await options.locator.locate(refs.map(r => r.id), options)
    const jobs: Array<() => Promise<PieceAudit>> = []
    for (const ref of refs) {
      const hs = holders.get(ref.id) ?? []
      if (hs.length === 0) {
        jobs.push(async () => ({ segment: ref.segment, shard: ref.shard, pieceId: ref.id, node: null, nodeId: null, state: 'missing', leaves: [], code: 'BATCHAIN_ERR_PIECE_NOT_FOUND', reason: 'No node holds this piece' }))
      }
      for (const holder of hs) {
        jobs.push(async () => {
          const first = await challenge(ref, holder, client, options)
          if (first.state !== 'unreachable' || options.locator.relocate === undefined) return first
          // A holder that moved (restarted on another port) answers at its new address.
          const moved = await options.locator.relocate(holder, options)
          return moved === undefined ? first : await challenge(ref, moved, client, options)
        })
      }
    }
    const pieces = await runLimited(jobs, options.concurrency ?? 16)
    return {
      manifestId: capability.manifestId,
      pieces,
      ok: pieces.filter(p => p.state === 'ok').length,
      failed: pieces.filter(p => p.state === 'failed').length,
      missing: pieces.filter(p => p.state === 'missing').length,
      unreachable: pieces.filter(p => p.state === 'unreachable').length,
      seconds: (performance.now() - started) / 1000
    }
  } finally {
    if (options.client === undefined) client.close()
  }
}

async function challenge (ref: { segment: number, shard: number, id: PieceId, size: number }, holder: Holder, client: PieceClient, options: AuditOptions): Promise<PieceAudit> {
  const count = leafCount(ref.size)
  const wanted = Math.min(options.leavesPerPiece ?? 4, count)
  const picked = new Set<number>()
  while (picked.size < wanted) picked.add(randomInt(count))
  const leaves = [...picked].sort((a, b) => a - b)
  const base = { segment: ref.segment, shard: ref.shard, pieceId: ref.id, node: formatContact(holder), nodeId: holder.nodeId, leaves }
  try {
    const answer = await client.audit(holder, ref.id, leaves, options)
    const root = Buffer.from(ref.id, 'hex')
    if (answer.leafCount !== count) {
      return { ...base, state: 'failed', code: 'BATCHAIN_ERR_AUDIT_FAILED', reason: `Node claims ${answer.leafCount} leaves, the piece has ${count}` }
    }
    for (let i = 0; i < leaves.length; i++) {
      const index = leaves[i] as number
      const leaf = answer.leaves[i] as Buffer
      if (leaf.length !== leafLength(ref.size, index) || !verifyProof(root, index, count, leaf, answer.proofs[i] ?? [])) {
        return { ...base, state: 'failed', code: 'BATCHAIN_ERR_AUDIT_FAILED', reason: `Leaf ${index} does not verify against the piece id` }
      }
    }
    return { ...base, state: 'ok' }
  } catch (err) {
    if (options.signal?.aborted === true) throw err
    const code = errorCode(err)
    return { ...base, state: UNREACHABLE_CODES.has(code) ? 'unreachable' : 'failed', code, reason: errorMessage(err) }
  }
}

/** Errors that mean "could not ask", not "answered wrongly". */
const UNREACHABLE_CODES = new Set(['BATCHAIN_ERR_PEER_UNREACHABLE', 'BATCHAIN_ERR_TIMEOUT'])

/** `count` distinct elements of `items`, in their original order. */
function pickRandom<T> (items: readonly T[], count: number): T[] {
  const picked = new Set<number>()
  while (picked.size < Math.min(count, items.length)) picked.add(randomInt(items.length))
  return [...picked].sort((a, b) => a - b).map(i => items[i] as T)
}

async function runLimited<T> (jobs: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = new Array<T>(jobs.length)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, async () => {
    while (next < jobs.length) {
      const i = next++
      results[i] = await (jobs[i] as () => Promise<T>)()
    }
  }))
  return results
}

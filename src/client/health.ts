import type { PieceId } from '../core/ids.js'
import type { SegmentLayout } from '../manifest/index.js'
import { formatContact } from '../transfer/index.js'
import type { Holder } from './locator.js'

/**
 * Segment health: how many of a segment's k + m pieces are held by a node that counts. What
 * "counts" is the caller's judgement of each holder (HolderJudge): the durability loop judges by
 * keepalive state, audit reputation and failed audits; a plain client trusts whoever answered.
 *
 * A piece counts once however many good holders it has (after a node comes back, a piece may be
 * held twice: it is still one piece), so good ≤ total = k + m.
 */

/** Best first: a piece takes the best state among its holders. */
export const PIECE_STATES = ['good', 'untrusted', 'lost', 'bad', 'missing'] as const
export type PieceState = typeof PIECE_STATES[number]

/** The state of one holder of one piece (never 'missing': that is a piece without holders). */
export type HolderJudge = (pieceId: PieceId, holder: Holder) => Exclude<PieceState, 'missing'>

export const trustEveryHolder: HolderJudge = () => 'good'

export interface PieceHealth {
  shard: number
  id: PieceId
  state: PieceState
  /** HOST:PORT of the best holder (null when none). */
  node: string | null
  nodeId: string | null
  /** Every holder with its own state. */
  holders: Array<{ node: string, nodeId: string, state: Exclude<PieceState, 'missing'> }>
}

export interface SegmentHealthReport {
  index: number
  good: number
  total: number
  pieces: PieceHealth[]
}

export function segmentHealth (layout: SegmentLayout, holders: ReadonlyMap<PieceId, readonly Holder[]>, judge: HolderJudge): SegmentHealthReport {
  const pieces = layout.pieces.map((piece, shard): PieceHealth => {
    const judged = (holders.get(piece.id) ?? []).map(h => ({ holder: h, node: formatContact(h), nodeId: h.nodeId as string, state: judge(piece.id, h) }))
    judged.sort((a, b) => PIECE_STATES.indexOf(a.state) - PIECE_STATES.indexOf(b.state))
    const best = judged[0]
    return {
      shard,
      id: piece.id,
      state: best?.state ?? 'missing',
      node: best?.node ?? null,
      nodeId: best?.nodeId ?? null,
      holders: judged.map(j => ({ node: j.node, nodeId: j.nodeId, state: j.state }))
    }
  })
  return { index: layout.index, good: pieces.filter(p => p.state === 'good').length, total: pieces.length, pieces }
}

/** The holders of each piece that the judge counts as good. */
export function goodHolders (layout: SegmentLayout, holders: ReadonlyMap<PieceId, readonly Holder[]>, judge: HolderJudge): Map<PieceId, Holder[]> {
  return new Map(layout.pieces.map(p => [p.id, (holders.get(p.id) ?? []).filter(h => judge(p.id, h) === 'good')]))
}

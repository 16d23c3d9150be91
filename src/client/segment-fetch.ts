import type { AbortOptions } from '../core/abort.js'
import { NotEnoughPiecesError, errorCode, errorMessage, PieceHashMismatchError } from '../core/errors.js'
import type { PieceId } from '../core/ids.js'
import { pieceIdOf } from '../crypto/merkle.js'
import type { ErasureCoder } from '../erasure/index.js'
import type { SegmentLayout } from '../manifest/index.js'
import { formatContact, type PieceClient } from '../transfer/index.js'
import type { Holder } from './locator.js'

/** A piece that a node failed to deliver intact. */
export interface BadPiece {
  segment: number
  shard: number
  pieceId: PieceId
  node: string
  code: string
  reason: string
}

export interface FetchSegmentOptions extends AbortOptions {
  /** Requests started beyond the k needed, so one slow or bad node does not stall the segment. @defaultValue 1 */
  extra?: number
  onBadPiece?: (bad: BadPiece) => void
}

/**
 * Fetches the shards of one segment: starts k+extra requests (data shards first,
 * which avoids decoding when they all arrive), checks each piece against its id,
 * replaces failures with the next shard or holder, keeps the first k good ones
 * and cancels the rest. Returns the segment's padded ciphertext (k*shardSize).
 */
export async function fetchSegment (layout: SegmentLayout, holders: ReadonlyMap<PieceId, Holder[]>, coder: ErasureCoder, client: PieceClient, options: FetchSegmentOptions = {}): Promise<Buffer> {
  const k = coder.dataShards
  const total = layout.pieces.length
  const shards: Array<Buffer | undefined> = new Array<Buffer | undefined>(total).fill(undefined)
  const queue = Array.from({ length: total }, (_, i) => i)
  const failures: BadPiece[] = []
  let good = 0
  const cancel = new AbortController()
  const onOuterAbort = (): void => { cancel.abort(options.signal?.reason) }
  options.signal?.addEventListener('abort', onOuterAbort, { once: true })

  const worker = async (): Promise<void> => {
    for (let shard = queue.shift(); shard !== undefined && good < k; shard = queue.shift()) {
      const piece = layout.pieces[shard]
      if (piece === undefined) continue
      for (const holder of holders.get(piece.id) ?? []) {
        if (good >= k || cancel.signal.aborted) return
        try {
          const { data } = await client.get(holder, piece.id, { signal: cancel.signal, maxSize: piece.size })
          if (data.length !== piece.size || pieceIdOf(data) !== piece.id) throw new PieceHashMismatchError()
          if (good < k) { shards[shard] = data; good++ }
          if (good >= k) cancel.abort()
          break
        } catch (err) {
          if (cancel.signal.aborted) return
          const bad: BadPiece = { segment: layout.index, shard, pieceId: piece.id, node: formatContact(holder), code: errorCode(err), reason: errorMessage(err) }
          failures.push(bad)
          options.onBadPiece?.(bad)
        }
      }
    }
  }

  try {
    await Promise.all(Array.from({ length: Math.min(total, k + (options.extra ?? 1)) }, worker))
  } finally {
    options.signal?.removeEventListener('abort', onOuterAbort)
  }
  if (options.signal?.aborted === true) throw options.signal.reason
  if (good < k) {
    throw new NotEnoughPiecesError(`Segment ${layout.index}: only ${good} of the ${k} pieces needed could be fetched intact`, { details: { segment: layout.index, failures: failures.slice(0, 20) } })
  }
  const dataComplete = shards.slice(0, k).every(s => s !== undefined)
  const all = dataComplete ? shards : await coder.reconstruct(shards.map((s, i) => i < total ? s : undefined), layout.shardSize, options)
  return Buffer.concat(all.slice(0, k) as Buffer[], k * layout.shardSize)
}

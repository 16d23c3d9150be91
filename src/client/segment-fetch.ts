import type { AbortOptions } from '../core/abort.js'
import { NotEnoughPiecesError, errorCode, errorMessage, PieceHashMismatchError } from '../core/errors.js'
import type { PieceId } from '../core/ids.js'
import { pieceIdOf } from '../crypto/merkle.js'
import type { ErasureCoder } from '../erasure/index.js'
import type { SegmentLayout } from '../manifest/index.js'
import { formatContact, type PieceClient } from '../transfer/index.js'
import type { BufferPool } from './buffer-pool.js'
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
  /**
   * Milliseconds before the `extra` requests start. 0 starts them with the first k (every
   * segment then pays for a cancelled request, and a cancelled request costs its connection).
   * @defaultValue 0
   */
  hedgeAfter?: number
  /**
   * Check every piece against its id (Merkle root) as it arrives. Without it only the
   * length is checked and the caller must authenticate the result (AEAD does) and call
   * `findBad` when that fails. @defaultValue true
   */
  verify?: boolean
  /** `pieceId@node` pairs known to be bad: not asked again. */
  avoid?: ReadonlySet<string>
  /** Where fetched pieces are read into (buffers of at least shardSize); allocated when absent. */
  pool?: BufferPool
  /**
   * Where the piece of shard i is read into (shardSize bytes, e.g. its slot of a reconstruct
   * workspace), instead of `pool`. One request at a time per shard writes there.
   */
  intoShard?: (shard: number) => Buffer | undefined
  onBadPiece?: (bad: BadPiece) => void
  /**
   * Rebuild missing data shards into `data`. Off for callers that rebuild from `fetched`
   * themselves (repair): `data` is then empty, and no segment is decoded twice. @defaultValue true
   */
  rebuildData?: boolean
}

/** The k data shards of a segment (rebuilt where needed) and what was fetched to get them. */
export interface FetchedShards {
  /** k buffers of shardSize: the segment's padded ciphertext, in order. */
  data: Buffer[]
  /** The pieces as fetched, by shard index, with the node each came from. */
  fetched: Map<number, { data: Buffer, holder: Holder }>
  /**
   * Checks every fetched piece against its id; reports and returns the bad ones
   * (as `pieceId@node` keys for `avoid`). Used after the segment failed to authenticate.
   */
  findBad: () => string[]
  /** Gives pooled buffers back. Call once nothing reads `data` any more. */
  release: () => void
}

export function badKey (pieceId: PieceId, holder: Holder): string {
  return `${pieceId}@${formatContact(holder)}`
}

/**
 * Fetches the shards of one segment: starts k requests (data shards first, which avoids
 * decoding when they all arrive) and `extra` more after `hedgeAfter` ms if the segment is
 * not done by then; replaces failures with the next shard or holder; keeps the first k
 * good ones and cancels the rest.
 */
export async function fetchShards (layout: SegmentLayout, holders: ReadonlyMap<PieceId, Holder[]>, coder: ErasureCoder, client: PieceClient, options: FetchSegmentOptions = {}): Promise<FetchedShards> {
  const k = coder.dataShards
  const total = layout.pieces.length
  const verify = options.verify ?? true
  const pool = options.pool !== undefined && options.pool.size >= layout.shardSize ? options.pool : undefined
  const fetched = new Map<number, { data: Buffer, holder: Holder }>()
  const pooled: Buffer[] = []
  const queue = Array.from({ length: total }, (_, i) => i)
  const failures: BadPiece[] = []
  let good = 0
  const cancel = new AbortController()
  const onOuterAbort = (): void => { cancel.abort(options.signal?.reason) }
  options.signal?.addEventListener('abort', onOuterAbort, { once: true })

  const report = (bad: BadPiece): void => {
    failures.push(bad)
    options.onBadPiece?.(bad)
  }

  const worker = async (): Promise<void> => {
    for (let shard = queue.shift(); shard !== undefined && good < k; shard = queue.shift()) {
      const piece = layout.pieces[shard]
      if (piece === undefined) continue
      for (const holder of holders.get(piece.id) ?? []) {
        if (good >= k || cancel.signal.aborted) return
        if (options.avoid?.has(badKey(piece.id, holder)) === true) continue
        const own = options.intoShard?.(shard)
        const into = own ?? pool?.take()
        try {
          const { data } = await client.get(holder, piece.id, { signal: cancel.signal, maxSize: piece.size, into })
          if (data.length !== piece.size || (verify && pieceIdOf(data) !== piece.id)) throw new PieceHashMismatchError()
          if (good < k) {
            fetched.set(shard, { data, holder })
            if (into !== undefined && own === undefined) pooled.push(into)
            good++
          } else if (into !== undefined && own === undefined) pool?.give(into)
          if (good >= k) cancel.abort()
          // One piece per request slot: a worker moves on to another shard only when this one
          // failed on every holder. (Moving on after a success started a (k+1)th request as soon as
          // the first piece landed, whatever hedgeAfter said, and a decode whenever it beat the
          // slowest data shard: 75 of 128 segments of a DHT download.)
          return
        } catch (err) {
          // The request is over (get() settled), so nothing writes into the buffer any more.
          if (into !== undefined && own === undefined) pool?.give(into)
          if (cancel.signal.aborted) return
          report({ segment: layout.index, shard, pieceId: piece.id, node: formatContact(holder), code: errorCode(err), reason: errorMessage(err) })
        }
      }
    }
  }

  const release = (): void => {
    for (const b of pooled.splice(0)) pool?.give(b)
  }
  try {
    const first = Math.min(total, k)
    const extra = Math.max(0, Math.min(total, k + (options.extra ?? 1)) - first)
    const workers = Array.from({ length: first }, worker)
    if (extra > 0) {
      const hedge = options.hedgeAfter ?? 0
      if (hedge <= 0) {
        for (let i = 0; i < extra; i++) workers.push(worker())
      } else {
        // Hedged requests: only when the first k have not all landed in time (a slow or dead node).
        const allFirst = Promise.all(workers)
        let timer: NodeJS.Timeout | undefined
        const timedOut = await Promise.race([
          allFirst.then(() => false),
          new Promise<boolean>(resolve => { timer = setTimeout(() => { resolve(true) }, hedge) })
        ])
        clearTimeout(timer)
        if (timedOut && good < k && !cancel.signal.aborted) {
          for (let i = 0; i < extra; i++) workers.push(worker())
        }
      }
    }
    await Promise.all(workers)
  } catch (err) {
    release()
    throw err
  } finally {
    options.signal?.removeEventListener('abort', onOuterAbort)
  }
  if (options.signal?.aborted === true) { release(); throw options.signal.reason }
  if (good < k) {
    release()
    throw new NotEnoughPiecesError(`Segment ${layout.index}: only ${good} of the ${k} pieces needed could be fetched intact`, { details: { segment: layout.index, failures: failures.slice(0, 20) } })
  }
  const shards = Array.from({ length: total }, (_, i) => fetched.get(i)?.data)
  const dataComplete = shards.slice(0, k).every(s => s !== undefined)
  let all: Array<Buffer | undefined> = shards
  if (options.rebuildData === false) {
    all = []
  } else if (!dataComplete) {
    try {
      all = await coder.reconstruct(shards, layout.shardSize, options)
    } catch (err) {
      release()
      throw err
    }
  }
  return {
    data: all.slice(0, k) as Buffer[],
    fetched,
    findBad: () => {
      const bad: string[] = []
      for (const [shard, { data, holder }] of fetched) {
        const piece = layout.pieces[shard]
        if (piece === undefined || pieceIdOf(data) === piece.id) continue
        const err = new PieceHashMismatchError()
        report({ segment: layout.index, shard, pieceId: piece.id, node: formatContact(holder), code: errorCode(err), reason: errorMessage(err) })
        bad.push(badKey(piece.id, holder))
      }
      return bad
    },
    release
  }
}

/**
 * Fetches the shards of one segment, every piece checked against its id, and returns
 * the segment's padded ciphertext (k*shardSize) as one buffer.
 */
export async function fetchSegment (layout: SegmentLayout, holders: ReadonlyMap<PieceId, Holder[]>, coder: ErasureCoder, client: PieceClient, options: FetchSegmentOptions = {}): Promise<Buffer> {
  const shards = await fetchShards(layout, holders, coder, client, { ...options, verify: true, pool: undefined })
  return Buffer.concat(shards.data, coder.dataShards * layout.shardSize)
}

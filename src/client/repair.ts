import { randomInt } from 'node:crypto'
import type { AbortOptions } from '../core/abort.js'
import { InvalidManifestError, NotEnoughNodesError, NotEnoughPiecesError, PieceHashMismatchError, errorMessage } from '../core/errors.js'
import type { NodeId, PieceId } from '../core/ids.js'
import { failpoint } from '../core/failpoints.js'
import { createLogger, type Logger } from '../core/logger.js'
import { leafCount, leafLength, pieceIdOf, verifyProof } from '../crypto/merkle.js'
import type { PointerRecord } from '../crypto/pointer.js'
import type { ErasureCoder } from '../erasure/index.js'
import type { Manifest, SegmentLayout } from '../manifest/index.js'
import { formatContact, type Contact, type PieceClient, type PutGrant } from '../transfer/index.js'
import { goodHolders, segmentHealth, type HolderJudge, type SegmentHealthReport } from './health.js'
import { BufferPool } from './buffer-pool.js'
import type { Holder, LocateOptions } from './locator.js'
import type { StorageNetwork } from './network.js'
import type { PiecePlacer, PieceToPlace } from './placement.js'
import { fetchShards } from './segment-fetch.js'

/**
 * Repair of one segment, without the file's key: fetch k good pieces (each checked against its id),
 * rebuild every piece that has no good holder, store each on a new node that holds no other piece
 * of the segment, publish its pointer record, and verify it with a fresh audit challenge.
 *
 * Pieces are encrypted ciphertext and their ids are Merkle roots, so the repairer can check every
 * byte it fetches and rebuilds against the public manifest. The owner's put grant (its signature
 * over the piece id and size, kept in the manifest) lets the node record the rebuilt piece under
 * the owner's key, so the owner can still delete it.
 *
 * Re-runs are safe: `previous` (what an earlier, interrupted attempt of the same job placed, as
 * recorded through `onPlaced`) is checked first; a placement that still holds is kept and
 * published again instead of storing the piece a second time.
 */
export interface RepairSegmentOptions extends AbortOptions {
  network: StorageNetwork
  client: PieceClient
  coder: ErasureCoder
  judge: HolderJudge
  /** Rebuild when fewer than this many pieces are good. @defaultValue k + m (any loss) */
  threshold?: number
  /** Nodes that must not receive a rebuilt piece (lost, untrusted), by node id. */
  exclude?: ReadonlySet<string>
  /** Placements recorded by an earlier attempt of this repair. */
  previous?: readonly RepairPlacement[]
  /** Called after each rebuilt piece is stored, before the next one (persist it for re-runs). */
  onPlaced?: (placement: RepairPlacement) => Promise<void>
  /** Known holder addresses by node id (see LocateOptions.addressOf). */
  addressOf?: LocateOptions['addressOf']
  /** Merkle leaves challenged per rebuilt piece to verify it. @defaultValue 4 */
  verifyLeaves?: number
  /**
   * Holders of the segment's pieces already located (a batch of segments is located at once);
   * located here when absent.
   */
  holders?: ReadonlyMap<PieceId, readonly Holder[]>
  /**
   * Nodes to offer a rebuilt piece to, best first (the durability loop's registry: verified,
   * online, trusted storage nodes). Nodes in `taken` hold a counted piece of the segment (or are
   * excluded) and are skipped here too. Without it, or when none of them takes the piece, the
   * network's placer chooses.
   */
  targets?: (taken: ReadonlySet<string>, size: number) => Array<Contact & { nodeId: NodeId }>
  /**
   * Takes the pointer records to publish instead of publishing them here: a batch of segments
   * publishes all of its records in one call. The caller must publish them before reporting the
   * repair done.
   */
  deferPublish?: (records: readonly PointerRecord[]) => void
  /**
   * When the segment turns out healthy (nothing to rebuild), have each good holder sign its
   * pointer records again (HAS with pointers) and publish them. For a segment that a checker
   * queued as degraded: the checker finds holders through pointer records, while `holders` may
   * hold copies found by asking nodes directly, such as one stored by a repair that was
   * interrupted before it recorded or published it. Without a record the network cannot find
   * that copy (downloads do not use it) and the checker would queue the segment again forever.
   * @defaultValue false
   */
  refreshSkipped?: boolean
  logger?: Logger
}

export interface RepairPlacement {
  shard: number
  pieceId: PieceId
  node: Contact & { nodeId: NodeId }
  pointer?: PointerRecord
}

export interface SegmentRepairResult {
  segment: number
  goodBefore: number
  goodAfter: number
  total: number
  /** Pieces stored by this run (or confirmed from an earlier attempt). */
  placed: RepairPlacement[]
  /** Bytes of rebuilt pieces stored. */
  bytes: number
  /** Health before and after (after: the judge's view plus the verified new holders). */
  before: SegmentHealthReport
  after: SegmentHealthReport
  /** Nothing to do: the segment was at or above the threshold. */
  skipped: boolean
  /** Milliseconds per phase (where repair time goes). */
  timings: { locate: number, fetch: number, rebuild: number, place: number, publish: number, verify: number }
}

export async function repairSegment (manifest: Manifest, index: number, options: RepairSegmentOptions): Promise<SegmentRepairResult> {
  const layout = manifest.segments[index]
  if (layout === undefined) throw new InvalidManifestError(`The manifest has no segment ${index} (it has ${manifest.segments.length})`)
  const { dataShards: k, parityShards: m } = manifest.params
  const n = k + m
  const threshold = Math.min(n, Math.max(k, options.threshold ?? n))
  const ids = layout.pieces.map(p => p.id)
  const timings = { locate: 0, fetch: 0, rebuild: 0, place: 0, publish: 0, verify: 0 }
  let mark = performance.now()
  const lap = (phase: keyof typeof timings): void => { const now = performance.now(); timings[phase] += now - mark; mark = now }
  const holders = new Map(options.holders !== undefined
    ? ids.map(id => [id, [...(options.holders?.get(id) ?? [])]] as const)
    : await options.network.locator.locate(ids, { signal: options.signal, ...(options.addressOf === undefined ? {} : { addressOf: options.addressOf }) }))

  // An earlier attempt's placements that still hold count as holders of their pieces.
  const confirmed = await confirmPrevious(options.previous ?? [], options)
  for (const p of confirmed) {
    const list = holders.get(p.pieceId) ?? []
    if (!list.some(h => h.nodeId === p.node.nodeId)) holders.set(p.pieceId, [...list, p.node])
  }
  const before = segmentHealth(layout, holders, options.judge)
  lap('locate')
  if (before.good >= threshold) {
    // Pointers of confirmed earlier placements may not have been published before the crash.
    await publish(options.network, confirmed, options)
    if (options.refreshSkipped === true) await publishRecords(options.network, await holderRecords(layout, holders, options, confirmed), options)
    lap('publish')
    return { segment: index, goodBefore: before.good, goodAfter: before.good, total: n, placed: confirmed, bytes: 0, before, after: before, skipped: true, timings }
  }
  if (before.good < k) {
    throw new NotEnoughPiecesError(`Segment ${index}: only ${before.good} good pieces, ${k} are needed to rebuild it`, { details: { segment: index, good: before.good, k } })
  }
  const missing = before.pieces.filter(p => p.state !== 'good').map(p => p.shard)
  const grants = new Map<number, PutGrant>()
  const owner = Buffer.from(manifest.owner, 'hex')
  for (const shard of missing) {
    const grant = layout.pieces[shard]?.grant
    if (grant === undefined) throw new InvalidManifestError(`Piece ${shard} of segment ${index} has no owner grant in the manifest; only its owner can store it again`)
    grants.set(shard, { owner, signature: Buffer.from(grant, 'hex') })
  }

  // k pieces, every shard rebuilt from them, and every rebuilt shard checked against its id. The
  // fetched pieces are not hashed on arrival: in an MDS code each rebuilt shard depends on every
  // one of the k (its decoding row has no zero), so a bad piece cannot yield a rebuilt shard that
  // matches its id. Only when one does not match are the fetched pieces checked, the bad ones
  // avoided and the segment fetched again (as downloads do with the AEAD tag).
  // Pieces are read straight into their slots of a pooled workspace and rebuilt there: a segment's
  // repair would otherwise allocate (and the GC collect) some 3 × k shards of fresh memory.
  const pools = poolsFor(layout.shardSize, n)
  const work = pools.work.take()
  const slotOf = (shard: number): Buffer => work.subarray(shard * layout.shardSize, (shard + 1) * layout.shardSize)
  const good = goodHolders(layout, holders, options.judge)
  let shards: Buffer[] = []
  const avoid = new Set<string>()
  for (let attempt = 0; ; attempt++) {
    const fetched = await fetchShards(layout, good, options.coder, options.client, { signal: options.signal, verify: attempt > 0, avoid, extra: 1, hedgeAfter: FETCH_HEDGE_MS, intoShard: slotOf, rebuildData: false })
    lap('fetch')
    let bad: string[] = []
    try {
      const slots = Array.from({ length: n }, (_, i) => fetched.fetched.get(i)?.data)
      shards = await options.coder.reconstruct(slots, layout.shardSize, { ...(options.signal === undefined ? {} : { signal: options.signal }), into: work, only: missing })
      const wrong = missing.filter(shard => pieceIdOf(shards[shard] as Buffer) !== layout.pieces[shard]?.id)
      if (wrong.length === 0) break
      bad = attempt === 0 ? fetched.findBad() : []
      if (bad.length === 0) {
        throw new PieceHashMismatchError(`Segment ${index}: rebuilt piece ${wrong[0] as number} does not match its id (the manifest or the fetched pieces are inconsistent)`)
      }
    } finally {
      fetched.release()
    }
    for (const key of bad) avoid.add(key)
    options.logger?.warn({ segment: index, bad }, 'a fetched piece did not match its id; fetching the segment again without it')
  }

  lap('rebuild')
  // New homes keep the segment's pieces on distinct nodes: not the node a good piece counts on, not
  // any holder of a piece being rebuilt (a bad holder still has the bad bytes: a put there would be
  // a no-op), and none the caller excludes. A node holding only a spare copy of a good piece (one
  // that came back after its pieces were repaired) may take another piece: losing it loses one
  // counted piece at most.
  const taken = new Set<string>(options.exclude ?? [])
  const takenAddresses = new Set<string>()
  const take = (h: { nodeId: string, node: string }): void => { taken.add(h.nodeId); takenAddresses.add(h.node) }
  for (const p of before.pieces) {
    if (p.state === 'good') {
      const counted = p.holders.find(h => h.state === 'good')
      if (counted !== undefined) take(counted)
    } else {
      for (const h of p.holders) take(h)
    }
  }
  let placer: PiecePlacer | undefined
  const placeOne = async (shard: number, piece: PieceToPlace): Promise<{ node: Contact & { nodeId: NodeId }, pointer?: PointerRecord }> => {
    const direct = await placeOnTargets(piece, options.targets?.(taken, layout.shardSize) ?? [], taken, takenAddresses, options)
    if (direct !== undefined) return direct
    placer ??= options.network.createPlacer(options.client, options.logger ?? createLogger('repair'), { piecesPerSegment: 1, hedge: false })
    const [result] = await placer.place(index, [piece], { signal: options.signal, exclude: { nodeIds: taken, addresses: takenAddresses } })
    if (result === undefined) throw new NotEnoughNodesError(`No node accepted rebuilt piece ${shard} of segment ${index}`)
    return result
  }
  const placed: RepairPlacement[] = [...confirmed]
  const after = new Map(holders)
  let bytes = 0
  for (const shard of missing) {
    const id = layout.pieces[shard]?.id as PieceId
    if (confirmed.some(p => p.shard === shard)) continue
    const result = await placeOne(shard, { id, data: shards[shard] as Buffer, grant: grants.get(shard) as PutGrant })
    const placement: RepairPlacement = { shard, pieceId: id, node: result.node, ...(result.pointer === undefined ? {} : { pointer: result.pointer }) }
    // Stored, but neither recorded for a re-run nor published: a crash here leaves a copy that
    // only asking the node finds (see refreshSkipped).
    await failpoint('repair.before-record', options.signal)
    taken.add(result.node.nodeId)
    takenAddresses.add(formatContact(result.node))
    await options.onPlaced?.(placement)
    placed.push(placement)
    await failpoint('repair.after-place', options.signal)
    bytes += layout.shardSize
  }
  lap('place')
  // Every put of a rebuilt shard is over (hedging is off): nothing reads the workspace any more.
  // (On a failure it is left to the GC: an aborted put's socket may not have let go of it yet.)
  pools.work.give(work)
  await publish(options.network, placed, options)
  lap('publish')

  // Verify every new copy with a challenge it can only answer holding the bytes.
  for (const p of placed) {
    await verifyStored(p, layout.shardSize, options)
    after.set(p.pieceId, [...(after.get(p.pieceId) ?? []).filter(h => h.nodeId !== p.node.nodeId), p.node])
  }
  const newHolders = new Set(placed.map(p => `${p.pieceId}@${p.node.nodeId}`))
  const judgeAfter: HolderJudge = (pieceId, holder) => newHolders.has(`${pieceId}@${holder.nodeId}`) ? 'good' : options.judge(pieceId, holder)
  const afterReport = segmentHealth(layout, after, judgeAfter)
  lap('verify')
  return { segment: index, goodBefore: before.good, goodAfter: afterReport.good, total: n, placed, bytes, before, after: afterReport, skipped: false, timings: roundTimings(timings) }
}

/**
 * Milliseconds before a fifth piece is requested for a segment whose k pieces have not all
 * arrived: started with the first k, it would be cancelled in almost every segment, and a
 * cancelled request costs its connection (a new one and a handshake for the next request).
 */
const FETCH_HEDGE_MS = 500

/** Rebuild workspaces (k + m shards each) reused across repairs, per shard size and code. */
const POOLS = new Map<string, { work: BufferPool }>()
function poolsFor (shardSize: number, n: number): { work: BufferPool } {
  const key = `${shardSize}/${n}`
  let pools = POOLS.get(key)
  if (pools === undefined) {
    // Few sizes in practice (one per segment size and code); keep the map from growing anyway.
    if (POOLS.size >= 8) POOLS.delete(POOLS.keys().next().value as string)
    pools = { work: new BufferPool(shardSize * n, 8) }
    POOLS.set(key, pools)
  }
  return pools
}

function roundTimings<T extends Record<string, number>> (t: T): T {
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Math.round(v)])) as T
}

async function publish (network: StorageNetwork, placed: readonly RepairPlacement[], options: AbortOptions & Pick<RepairSegmentOptions, 'deferPublish'>): Promise<void> {
  await publishRecords(network, placed.flatMap(p => p.pointer === undefined ? [] : [p.pointer]), options)
}

async function publishRecords (network: StorageNetwork, records: readonly PointerRecord[], options: AbortOptions & Pick<RepairSegmentOptions, 'deferPublish'>): Promise<void> {
  if (records.length === 0) return
  if (options.deferPublish !== undefined) options.deferPublish(records)
  else await network.publish(records, options)
}

/**
 * Fresh pointer records from every good holder of the segment's pieces (one HAS with pointers per
 * holder), except the placements in `except` (published from their own records). A holder that
 * does not answer is skipped: its copy stays as findable as it was.
 */
async function holderRecords (layout: SegmentLayout, holders: ReadonlyMap<PieceId, readonly Holder[]>, options: RepairSegmentOptions, except: readonly RepairPlacement[]): Promise<PointerRecord[]> {
  const done = new Set(except.map(p => `${p.pieceId}@${p.node.nodeId}`))
  const byNode = new Map<string, { holder: Holder, ids: PieceId[] }>()
  for (const [id, list] of goodHolders(layout, holders, options.judge)) {
    for (const holder of list) {
      if (done.has(`${id}@${holder.nodeId}`)) continue
      const entry = byNode.get(holder.nodeId) ?? { holder, ids: [] }
      entry.ids.push(id)
      byNode.set(holder.nodeId, entry)
    }
  }
  const records: PointerRecord[] = []
  await Promise.all([...byNode.values()].map(async ({ holder, ids }) => {
    try {
      const { pointers, nodeId } = await options.client.has(holder, ids, { signal: options.signal, pointers: true })
      if (nodeId !== holder.nodeId) return
      for (const record of pointers ?? []) if (record !== undefined) records.push(record)
    } catch (err) {
      if (options.signal?.aborted === true) throw err
      options.logger?.warn({ node: formatContact(holder), err: errorMessage(err) }, 'a holder did not sign its pointer records again')
    }
  }))
  return records
}

/**
 * Offers a rebuilt piece to the given nodes in order, skipping taken ones; the first that stores
 * it wins. The handshake checks each node's id (the contact carries it), so the piece cannot land
 * on another node that took over the address. Undefined when none took it.
 */
async function placeOnTargets (piece: PieceToPlace, targets: ReadonlyArray<Contact & { nodeId: NodeId }>, taken: ReadonlySet<string>, takenAddresses: ReadonlySet<string>, options: RepairSegmentOptions): Promise<{ node: Contact & { nodeId: NodeId }, pointer?: PointerRecord } | undefined> {
  for (const target of targets) {
    if (taken.has(target.nodeId) || takenAddresses.has(formatContact(target))) continue
    try {
      const { nodeId, pointer } = await options.client.put(target, piece.id, piece.data, { signal: options.signal, ...(piece.grant === undefined ? {} : { grant: piece.grant }) })
      if (nodeId !== target.nodeId) continue
      return { node: { host: target.host, port: target.port, nodeId }, ...(pointer === undefined ? {} : { pointer }) }
    } catch (err) {
      if (options.signal?.aborted === true) throw err
      options.logger?.warn({ node: formatContact(target), err: errorMessage(err) }, 'a repair target refused the rebuilt piece; trying the next')
    }
  }
  return undefined
}

/** Earlier placements whose node still answers HAS for the piece (the rest are placed again). */
async function confirmPrevious (previous: readonly RepairPlacement[], options: RepairSegmentOptions): Promise<RepairPlacement[]> {
  const out: RepairPlacement[] = []
  for (const p of previous) {
    try {
      const { have, nodeId } = await options.client.has(p.node, [p.pieceId], options)
      if (have[0] === true && nodeId === p.node.nodeId) out.push(p)
    } catch (err) {
      if (options.signal?.aborted === true) throw err
      options.logger?.info({ node: formatContact(p.node), err: errorMessage(err) }, 'an earlier repair placement is gone; placing that piece again')
    }
  }
  return out
}

async function verifyStored (p: RepairPlacement, size: number, options: RepairSegmentOptions): Promise<void> {
  const count = leafCount(size)
  const wanted = Math.min(options.verifyLeaves ?? 4, count)
  const picked = new Set<number>()
  while (picked.size < wanted) picked.add(randomInt(count))
  const leaves = [...picked].sort((a, b) => a - b)
  const answer = await options.client.audit(p.node, p.pieceId, leaves, options)
  const root = Buffer.from(p.pieceId, 'hex')
  const ok = answer.leafCount === count && leaves.every((leaf, i) => {
    const data = answer.leaves[i] as Buffer
    return data.length === leafLength(size, leaf) && verifyProof(root, leaf, count, data, answer.proofs[i] ?? [])
  })
  if (!ok) throw new PieceHashMismatchError(`Rebuilt piece ${p.pieceId.slice(0, 16)}… does not verify on ${formatContact(p.node)}`)
}

export interface RepairSegmentsOptions extends Omit<RepairSegmentOptions, 'previous' | 'onPlaced' | 'holders' | 'deferPublish'> {
  /** Placements recorded by an earlier attempt of this batch, each with its segment. */
  previous?: ReadonlyArray<RepairPlacement & { segment: number }>
  /** Called after each rebuilt piece is stored (persist it for re-runs). */
  onPlaced?: (placement: RepairPlacement & { segment: number }) => Promise<void>
  /** Segments repaired at once (the next one fetches while the last one places). @defaultValue 2 */
  window?: number
  /** Locates the batch's pieces instead of the network's locator (the durability loop asks known holders first). */
  locate?: (ids: readonly PieceId[], options: AbortOptions) => Promise<Map<PieceId, Holder[]>>
}

export interface SegmentsRepairResult {
  /** Segments repaired (or skipped: nothing to do), in the order asked. */
  results: SegmentRepairResult[]
  /** Segments that could not be repaired, with why; their pieces placed so far were saved. */
  failed: Array<{ segment: number, error: unknown }>
  /** Milliseconds locating the batch and publishing its pointer records (shared by its segments). */
  timings: { locate: number, publish: number }
}

/**
 * Repairs several segments of one file: one locator call for all their pieces, up to `window`
 * segments in flight (fetching one while another places), and every rebuilt piece's pointer
 * record published in one call at the end — before this returns, so a repaired piece is findable
 * when the repair reports it. Each segment keeps every guarantee of repairSegment; one that fails
 * does not stop the others (see `failed`).
 */
export async function repairSegments (manifest: Manifest, indices: readonly number[], options: RepairSegmentsOptions): Promise<SegmentsRepairResult> {
  for (const index of indices) {
    if (manifest.segments[index] === undefined) throw new InvalidManifestError(`The manifest has no segment ${index} (it has ${manifest.segments.length})`)
  }
  let mark = performance.now()
  const ids = indices.flatMap(i => (manifest.segments[i]?.pieces ?? []).map(p => p.id))
  const holders = options.locate !== undefined
    ? await options.locate(ids, { signal: options.signal })
    : await options.network.locator.locate(ids, { signal: options.signal, ...(options.addressOf === undefined ? {} : { addressOf: options.addressOf }) })
  const locate = performance.now() - mark
  const records: PointerRecord[] = []
  const results = new Map<number, SegmentRepairResult>()
  const failed: SegmentsRepairResult['failed'] = []
  const queue = [...indices]
  const worker = async (): Promise<void> => {
    for (let index = queue.shift(); index !== undefined; index = queue.shift()) {
      const segment = index
      try {
        results.set(segment, await repairSegment(manifest, segment, {
          ...options,
          holders,
          previous: (options.previous ?? []).filter(p => p.segment === segment),
          onPlaced: async p => { await options.onPlaced?.({ ...p, segment }) },
          deferPublish: r => { records.push(...r) }
        }))
      } catch (err) {
        if (options.signal?.aborted === true) throw err
        failed.push({ segment, error: err })
        options.logger?.warn({ segment, err: errorMessage(err) }, 'segment repair failed')
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.window ?? 2, indices.length)) }, worker))
  mark = performance.now()
  if (records.length > 0) await options.network.publish(records, options)
  const publish = performance.now() - mark
  return {
    results: indices.flatMap(i => results.get(i) ?? []),
    failed,
    timings: { locate: Math.round(locate), publish: Math.round(publish) }
  }
}

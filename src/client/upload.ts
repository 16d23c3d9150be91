import { throwIfAborted, type AbortOptions } from '../core/abort.js'
import { AEAD_TAG_SIZE, DEFAULT_DATA_SHARDS, DEFAULT_PARITY_SHARDS, DEFAULT_SEGMENT_SIZE, LEAF_SIZE, MANIFEST_VERSION, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE } from '../core/constants.js'
import { InvalidArgumentError } from '../core/errors.js'
import type { PieceId } from '../core/ids.js'
import { createLogger, type Logger } from '../core/logger.js'
import { generateKey } from '../crypto/aead.js'
import { formatCapability } from '../crypto/capability.js'
import { pieceIdOf } from '../crypto/merkle.js'
import type { Identity } from '../crypto/keys.js'
import type { PointerRecord } from '../crypto/pointer.js'
import { MAX_POINTERS_PER_RPC } from '../dht/plugin.js'
import { createErasureCoder, shardSizeFor, type ErasureCoder } from '../erasure/index.js'
import { encodeManifest, sealInfo, type Manifest, type SegmentLayout } from '../manifest/index.js'
import { PieceClient, type Contact, type PutGrant } from '../transfer/index.js'
import { storeManifest } from './manifest-store.js'
import type { PieceToPlace, PiecePlacer, PlaceOptions, PlacedPiece, PlacementFailure } from './placement.js'
import { staticNetwork, type StorageNetwork } from './network.js'
import { BufferPool } from './buffer-pool.js'
import { FileHasher } from './hasher.js'
import { segment, type ByteReader, type Segment } from './segmenter.js'

/** Pointer records published together: one DHT STORE_POINTERS request per replica per batch. */
const PUBLISH_BATCH = MAX_POINTERS_PER_RPC

export interface UploadOptions extends AbortOptions {
  /** Where pieces go: the DHT or a fixed list. One of `network` and `nodes` is required. */
  network?: StorageNetwork
  /** A fixed list of storage nodes (at least k+m distinct ones); shorthand for staticNetwork(nodes). */
  nodes?: readonly Contact[]
  /** The uploader's key: recorded as owner of every piece, needed to delete them. */
  identity: Identity
  /** File name kept in the sealed part of the manifest. @defaultValue '' */
  name?: string
  /** k. @defaultValue DEFAULT_DATA_SHARDS (4) */
  dataShards?: number
  /** m. @defaultValue DEFAULT_PARITY_SHARDS (2) */
  parityShards?: number
  /** Plaintext bytes per segment. @defaultValue DEFAULT_SEGMENT_SIZE (8 MiB) */
  segmentSize?: number
  /** Segments encoded and transferred at once; bounds memory to about (concurrency + 2) segments. @defaultValue 3 */
  concurrency?: number
  /** Hash on a worker thread (file SHA-256 and piece ids) while this one encrypts and sends. @defaultValue true */
  hashWorker?: boolean
  /** Called with the number of plaintext bytes whose pieces are stored. */
  onProgress?: (bytesDone: number) => void
  client?: PieceClient
  logger?: Logger
  /** Nodes that get no pieces (lost or under the reputation threshold, as the durability loop knows them). */
  exclude?: PlaceOptions['exclude']
}

export interface UploadResult {
  capability: string
  manifestId: PieceId
  name: string
  size: number
  sha256: string
  dataShards: number
  parityShards: number
  segments: number
  pieces: number
  /** Bytes sent to nodes (pieces and manifest copies). */
  bytesStored: number
  seconds: number
  /** Nodes that failed during the upload and were replaced. */
  failures: PlacementFailure[]
  manifestHolders: string[]
}

/**
 * Uploads a byte stream: segments → AES-256-GCM under a fresh per-file key →
 * Reed-Solomon k+m → pieces (id = Merkle root) on distinct nodes → manifest,
 * stored on the nodes too. Returns the read capability: the only thing the
 * user needs to keep. Memory stays bounded by `concurrency` segments.
 */
export async function upload (source: AsyncIterable<Uint8Array> | ByteReader, options: UploadOptions): Promise<UploadResult> {
  const started = performance.now()
  const k = options.dataShards ?? DEFAULT_DATA_SHARDS
  const m = options.parityShards ?? DEFAULT_PARITY_SHARDS
  const segmentSize = options.segmentSize ?? DEFAULT_SEGMENT_SIZE
  const concurrency = options.concurrency ?? 3
  const log = options.logger ?? createLogger('upload')
  if (!Number.isSafeInteger(segmentSize) || segmentSize < MIN_SEGMENT_SIZE || segmentSize > MAX_SEGMENT_SIZE) {
    throw new InvalidArgumentError(`Segment size must be between ${MIN_SEGMENT_SIZE} and ${MAX_SEGMENT_SIZE} bytes`)
  }
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new InvalidArgumentError('Concurrency must be 1..64')
  const coder = await createErasureCoder(k, m)
  if (options.network === undefined && options.nodes === undefined) throw new InvalidArgumentError('upload needs a network or a node list')
  const client = options.client ?? new PieceClient({ identity: options.identity })
  const network = options.network ?? staticNetwork(options.nodes ?? [], client, log)
  let placer: PiecePlacer
  try {
    placer = network.createPlacer(client, log, { piecesPerSegment: k + m, dataShards: k })
  } catch (err) {
    if (options.client === undefined) client.close()
    throw err
  }
  const dataKey = generateKey()
  const readKey = generateKey()
  const hasher = new FileHasher(options.hashWorker ?? true)
  const layouts: SegmentLayout[] = []
  let size = 0
  let bytesStored = 0
  let done = 0

  // One padded ciphertext buffer per segment in flight (at most `concurrency`), reused
  // once all of a segment's pieces are acknowledged.
  // Data and parity shards side by side, in memory the hashing thread can read.
  const pool = new BufferPool((k + m) * shardSizeFor(segmentSize + AEAD_TAG_SIZE, k), concurrency, size => hasher.allocate(size))

  // Pointer records are published while later segments transfer; the upload is complete
  // (and its capability returned) only when every piece is findable. Records are sent in
  // batches of PUBLISH_BATCH (several segments' worth): a DHT request per replica per batch,
  // where one per segment made ~900 requests for a 1 GiB upload in a small network.
  const publishing = new Set<Promise<void>>()
  const unpublished: PointerRecord[] = []
  const send = (records: PointerRecord[]): void => {
    const task: Promise<void> = network.publish(records, { signal: options.signal }).finally(() => { publishing.delete(task) })
    publishing.add(task)
  }
  // Full batches as they fill up; the remainder once every segment is stored.
  const publish = (placed: readonly PlacedPiece[]): void => {
    for (const p of placed) if (p.pointer !== undefined) unpublished.push(p.pointer)
    while (unpublished.length >= PUBLISH_BATCH) send(unpublished.splice(0, PUBLISH_BATCH))
  }
  const flushRecords = (): void => {
    if (unpublished.length > 0) send(unpublished.splice(0))
  }

  const storeSegment = async (sealing: Sealing): Promise<void> => {
    const layout = await encodeAndPlace(sealing, coder, placer, pool, hasher, (id, size) => client.grantFor(id, size), options)
    publish(layout.placed)
    layouts[sealing.index] = layout.layout
    bytesStored += layout.bytes
    done += sealing.plainLength
    options.onProgress?.(done)
  }

  // A window of segments in flight, in order; the first failure stops the upload.
  const inflight = new Set<Promise<void>>()
  let failure: unknown
  try {
    // reuse: seg.data is hashed and encrypted (on the hashing thread) before the next segment
    // is asked for, so the segmenter may refill it then.
    for await (const seg of segment(source, segmentSize, { reuse: true, allocate: size => hasher.allocate(size) })) {
      throwIfAborted(options.signal)
      if (failure !== undefined) break
      const hashed = hasher.updateFile(seg.data)
      size += seg.data.length
      const sealing = seal(seg, dataKey, k, k + m, pool, hasher)
      const task: Promise<void> = storeSegment(sealing).catch(err => { failure ??= err }).finally(() => { inflight.delete(task) })
      inflight.add(task)
      await hashed
      // A failed encryption fails the segment's task (and so the upload); here it only has to be over.
      await sealing.sealed.catch(() => {})
      if (inflight.size >= concurrency) await Promise.race(inflight)
    }
    await Promise.all(inflight)
    if (failure !== undefined) throw failure
    flushRecords()
    await Promise.all(publishing)

    const sha256 = await hasher.digestFile()
    const name = options.name ?? ''
    const manifest: Manifest = {
      version: MANIFEST_VERSION,
      params: { dataShards: k, parityShards: m, segmentSize, leafSize: LEAF_SIZE, cipher: 'aes-256-gcm', erasure: 'reed-solomon', hash: 'blake3' },
      segments: layouts,
      owner: options.identity.publicKey.toString('hex'),
      createdAt: new Date().toISOString(),
      sealed: sealInfo({ name, size, sha256, dataKey }, readKey)
    }
    const bytes = encodeManifest(manifest)
    const manifestId = pieceIdOf(bytes)
    const targets = await network.manifestTargets(manifestId, 2 * (k + m), { signal: options.signal })
    const stored = await storeManifest(bytes, targets, client, {
      signal: options.signal,
      log,
      replicas: Math.min(targets.length, k + m),
      minReplicas: Math.min(targets.length, m + 1)
    })
    await network.publish(stored.pointers, { signal: options.signal })
    bytesStored += bytes.length * stored.holders.length
    log.info({ manifest: stored.id, size, segments: layouts.length }, 'upload complete')
    return {
      capability: formatCapability({ kind: 'read', manifestId: stored.id, key: readKey }),
      manifestId: stored.id,
      name,
      size,
      sha256,
      dataShards: k,
      parityShards: m,
      segments: layouts.length,
      pieces: layouts.length * (k + m),
      bytesStored,
      seconds: (performance.now() - started) / 1000,
      failures: placer.failures,
      manifestHolders: stored.holders
    }
  } finally {
    await Promise.allSettled(publishing)
    if (options.client === undefined) client.close()
    await hasher.close()
  }
}

/** A segment being encrypted into its pooled buffer (data shards' part), on the hashing thread. */
interface Sealing {
  index: number
  plainLength: number
  cipherSize: number
  shardSize: number
  buffer: Buffer
  sealed: Promise<void>
}

/**
 * Starts encrypting a segment straight into a pooled buffer padded to k*shardSize (no
 * intermediate ciphertext or padding copies). seg.data must stay unchanged until `sealed`.
 */
function seal (seg: Segment, dataKey: Buffer, k: number, n: number, pool: BufferPool, hasher: FileHasher): Sealing {
  const cipherSize = seg.data.length + AEAD_TAG_SIZE
  const shardSize = shardSizeFor(cipherSize, k)
  // Room for the parity too, after the data shards (see encodeAndPlace).
  const buffer = n * shardSize <= pool.size ? pool.take() : hasher.allocate(n * shardSize)
  const sealed = hasher.seal(dataKey, seg.index, seg.data, seg.final, buffer.subarray(0, k * shardSize))
  sealed.catch(() => { /* surfaced by encodeAndPlace */ })
  return { index: seg.index, plainLength: seg.data.length, cipherSize, shardSize, buffer, sealed }
}

/**
 * Once a segment is sealed: erasure-codes it and places the k+m pieces.
 */
async function encodeAndPlace (sealing: Sealing, coder: ErasureCoder, placer: PiecePlacer, pool: BufferPool, hasher: FileHasher, grantFor: (id: PieceId, size: number) => PutGrant, options: AbortOptions & Pick<UploadOptions, 'exclude'>): Promise<{ layout: SegmentLayout, bytes: number, placed: PlacedPiece[] }> {
  const k = coder.dataShards
  const n = k + coder.parityShards
  const { index, buffer, cipherSize, shardSize } = sealing
  await sealing.sealed
  const data = buffer.subarray(0, k * shardSize)
  // Padding is part of the last shard's bytes (and so of its id): keep it zero, not stale.
  data.fill(0, cipherSize)
  // Parity is written straight after the data shards (no parity allocation or copy), so all
  // n shards sit in one buffer and are hashed in one request.
  const all = buffer.subarray(0, n * shardSize)
  await coder.encode(data, shardSize, { signal: options.signal, parity: all.subarray(k * shardSize) })
  const ids = await hasher.pieceIds(all, shardSize, n)
  // One signature per piece, reused for every node it is sent to and kept in the manifest for repairs.
  const pieces: PieceToPlace[] = ids.map((id, j) => ({ id, data: all.subarray(j * shardSize, (j + 1) * shardSize), grant: grantFor(id, shardSize) }))
  const placed: PlacedPiece[] = await placer.place(index, pieces, options.exclude === undefined ? { signal: options.signal } : { signal: options.signal, exclude: options.exclude })
  // Only now, with every piece acknowledged (so no socket still holds a slice of it), may
  // the buffer be reused. On failure it is simply dropped: a put may still be sending it.
  pool.give(buffer)
  return {
    layout: {
      index,
      cipherSize,
      shardSize,
      pieces: pieces.map(p => ({ id: p.id, size: shardSize, grant: Buffer.from((p.grant as PutGrant).signature).toString('hex') }))
    },
    bytes: shardSize * placed.length,
    placed
  }
}

import type { Writable } from 'node:stream'
import { abortReason, type AbortOptions } from '../core/abort.js'
import { AEAD_TAG_SIZE } from '../core/constants.js'
import { CapabilityLacksKeyError, ConnectionClosedError, DecryptionError, FileHashMismatchError, InvalidManifestError, NotEnoughPiecesError } from '../core/errors.js'
import { createLogger, type Logger } from '../core/logger.js'
import { decryptSegmentInto } from '../crypto/aead.js'
import type { Capability } from '../crypto/capability.js'
import { createErasureCoder } from '../erasure/index.js'
import { openSealed, type Manifest } from '../manifest/index.js'
import { PieceClient } from '../transfer/index.js'
import type { PieceLocator } from './locator.js'
import { SegmentHolders } from './segment-holders.js'
import { fetchManifest } from './manifest-store.js'
import { BufferPool } from './buffer-pool.js'
import { FileHasher } from './hasher.js'
import { fetchShards, type BadPiece, type FetchedShards } from './segment-fetch.js'

export interface DownloadOptions extends AbortOptions {
  locator: PieceLocator
  client?: PieceClient
  /** Segments fetched ahead of the one being written. @defaultValue 3 */
  concurrency?: number
  /** Extra piece requests per segment beyond k, started when a segment is slow (see hedgeAfter). @defaultValue 1 */
  extra?: number
  /**
   * Milliseconds a segment may take before the extra requests start; 0 starts them at once.
   * @defaultValue adaptive: 4× the recent average time to fetch a segment's pieces, at least 100 ms
   */
  hedgeAfter?: number
  /** Hash the file (SHA-256) on a worker thread while this one decrypts and writes. @defaultValue true */
  hashWorker?: boolean
  onProgress?: (bytesDone: number, total: number) => void
  /** Called once the manifest is open, before any data is written. */
  onManifest?: (info: { name: string, size: number }) => void
  logger?: Logger
}

export interface DownloadResult {
  name: string
  size: number
  sha256: string
  segments: number
  /** Pieces that were missing, unreachable or failed their hash; the download went around them. */
  badPieces: BadPiece[]
  seconds: number
}

/**
 * Downloads a file from its read capability into `output`: manifest (checked
 * against its id) → per segment the first k good pieces → decode → decrypt
 * (authentication fails loudly on tampering) → written in order with
 * backpressure. Memory is bounded by `concurrency` segments; the whole-file
 * hash is checked at the end (the caller should only publish the output then).
 */
export async function download (capability: Capability, output: Writable, options: DownloadOptions): Promise<DownloadResult> {
  const started = performance.now()
  if (capability.kind !== 'read') throw new CapabilityLacksKeyError()
  const log = options.logger ?? createLogger('download')
  const client = options.client ?? new PieceClient()
  const hasher = new FileHasher(options.hashWorker ?? true)
  try {
    const { manifest } = await fetchManifest(capability.manifestId, options.locator, client, { signal: options.signal, log })
    const sealed = openSealed(manifest, capability.key)
    checkSizes(manifest, sealed.size)
    options.onManifest?.({ name: sealed.name, size: sealed.size })
    const coder = await createErasureCoder(manifest.params.dataShards, manifest.params.parityShards)
    const extra = options.extra ?? 1
    // Holders of the data shards and the hedge's one extra piece; the others only when needed.
    const holders = new SegmentHolders(manifest.segments, options.locator, options, { first: coder.dataShards + extra })
    const badPieces: BadPiece[] = []
    const concurrency = options.concurrency ?? 3
    const last = manifest.segments.length - 1
    let written = 0

    // Pooled memory: piece buffers for the segments being fetched ((k+extra) each) and
    // plaintext buffers for those decrypted and not yet written. Bounded by the window,
    // whatever the file size.
    const maxShard = manifest.segments.reduce((max, s) => Math.max(max, s.shardSize), 0)
    const maxPlain = manifest.segments.reduce((max, s) => Math.max(max, s.cipherSize - AEAD_TAG_SIZE), 0)
    const piecePool = new BufferPool(maxShard, concurrency * (coder.dataShards + extra))
    const plainPool = new BufferPool(maxPlain, concurrency + 2, size => hasher.allocate(size))
    let averageMs = 0

    const fetchPlain = async (index: number): Promise<{ plain: Buffer, buffer: Buffer }> => {
      const layout = manifest.segments[index] as Manifest['segments'][number]
      const avoid = new Set<string>()
      // Pieces are checked by the segment's AEAD tag, not one by one: a key the nodes never
      // saw authenticates every byte of the k shards at once, so hashing each piece as well
      // is redundant work on the happy path. Only when the tag fails are the pieces hashed,
      // to name and avoid the bad ones; the second round then checks every piece as it comes.
      let located = await holders.get(index)
      // Timed from here: the hedge is about slow transfers, not about waiting for lookups.
      const started = performance.now()
      let widened = false
      const widen = async (): Promise<void> => { located = await holders.all(index); widened = true }
      for (let attempt = 0; ; attempt++) {
        let shards: FetchedShards
        try {
          shards = await fetchShards(layout, located, coder, client, {
            signal: options.signal,
            extra,
            // A hedged request costs a piece transfer, a dropped connection and usually a decode:
            // only for a real straggler, 4× the recent average fetch (at least 100 ms).
            hedgeAfter: options.hedgeAfter ?? (averageMs > 0 ? Math.max(100, 4 * averageMs) : 0),
            verify: attempt > 0,
            avoid,
            pool: piecePool,
            onBadPiece: bad => {
              badPieces.push(bad)
              log.warn(bad, 'bad or missing piece; fetched another')
            }
          })
        } catch (err) {
          // Too few of the first pieces could be fetched: look up the others' holders and try again.
          if (widened || !(err instanceof NotEnoughPiecesError)) throw err
          await widen()
          attempt--
          continue
        }
        const buffer = plainPool.take()
        try {
          const parts = cipherParts(shards.data, layout.cipherSize)
          const n = decryptSegmentInto(sealed.dataKey, index, parts, index === last, buffer)
          const ms = performance.now() - started
          averageMs = averageMs === 0 ? ms : 0.8 * averageMs + 0.2 * ms
          return { plain: buffer.subarray(0, n), buffer }
        } catch (err) {
          plainPool.give(buffer)
          const bad = err instanceof DecryptionError && attempt === 0 ? shards.findBad() : []
          // Every piece matches its id yet the tag fails: the key or the manifest is wrong.
          if (bad.length === 0) throw err
          for (const key of bad) avoid.add(key)
          // The next round goes around the bad pieces: it may need pieces not located yet.
          if (!widened) await widen()
        } finally {
          shards.release()
        }
      }
    }

    // Fetch ahead in order; write strictly in order.
    const pending: Array<Promise<{ plain: Buffer, buffer: Buffer }>> = []
    let next = 0
    const fill = (): void => {
      while (next <= last && pending.length < concurrency) {
        const p = fetchPlain(next++)
        p.catch(() => { /* awaited below, in order */ })
        pending.push(p)
      }
    }
    fill()
    while (pending.length > 0) {
      const { plain, buffer } = await (pending.shift() as Promise<{ plain: Buffer, buffer: Buffer }>)
      fill()
      // Hashed (on the worker) while the output takes it; a failed hash fails the digest below.
      const hashed = hasher.updateFile(plain)
      hashed.catch(() => { /* reported by digestFile() */ })
      // The buffer goes back to the pool only once both the hash and the output are done with it.
      await write(output, plain, options.signal, () => { hashed.then(() => { plainPool.give(buffer) }, () => {}) })
      written += plain.length
      options.onProgress?.(written, sealed.size)
    }
    const sha256 = await hasher.digestFile()
    if (written !== sealed.size) throw new InvalidManifestError(`Manifest promised ${sealed.size} bytes, segments held ${written}`)
    if (sha256 !== sealed.sha256) throw new FileHashMismatchError()
    return { name: sealed.name, size: sealed.size, sha256, segments: manifest.segments.length, badPieces, seconds: (performance.now() - started) / 1000 }
  } finally {
    if (options.client === undefined) client.close()
    await hasher.close()
  }
}

function checkSizes (manifest: Manifest, size: number): void {
  const expected = manifest.segments.reduce((sum, s) => sum + s.cipherSize - AEAD_TAG_SIZE, 0)
  if (expected !== size) throw new InvalidManifestError(`Sealed size ${size} does not match the segment layout (${expected})`)
}

/** The first `cipherSize` bytes of the k data shards (the rest is padding), as views. */
function cipherParts (shards: readonly Buffer[], cipherSize: number): Buffer[] {
  const parts: Buffer[] = []
  let left = cipherSize
  for (const shard of shards) {
    if (left <= 0) break
    parts.push(shard.length <= left ? shard : shard.subarray(0, left))
    left -= shard.length
  }
  return parts
}

/** Writes with backpressure; `done` runs once the output has finished with `chunk` (successfully or not). */
async function write (output: Writable, chunk: Buffer, signal?: AbortSignal, done?: () => void): Promise<void> {
  if (signal?.aborted === true) throw abortReason(signal)
  const ok = output.write(chunk, err => { if (err == null) done?.() })
  if (ok) return
  await new Promise<void>((resolve, reject) => {
    const cleanup = (): void => { output.off('drain', onDrain); output.off('close', onClose); output.off('error', onError) }
    const onDrain = (): void => { cleanup(); resolve() }
    const onClose = (): void => { cleanup(); reject(new ConnectionClosedError('Output closed before the download finished')) }
    const onError = (err: Error): void => { cleanup(); reject(err) }
    output.on('drain', onDrain)
    output.on('close', onClose)
    output.on('error', onError)
  })
}

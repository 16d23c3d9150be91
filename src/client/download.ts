import { createHash } from 'node:crypto'
import type { Writable } from 'node:stream'
import { abortReason, type AbortOptions } from '../core/abort.js'
import { AEAD_TAG_SIZE } from '../core/constants.js'
import { CapabilityLacksKeyError, ConnectionClosedError, FileHashMismatchError, InvalidManifestError } from '../core/errors.js'
import type { PieceId } from '../core/ids.js'
import { createLogger, type Logger } from '../core/logger.js'
import { decryptSegment } from '../crypto/aead.js'
import type { Capability } from '../crypto/capability.js'
import { createErasureCoder } from '../erasure/index.js'
import { openSealed, type Manifest } from '../manifest/index.js'
import { PieceClient } from '../transfer/index.js'
import type { PieceLocator, Holder } from './locator.js'
import { fetchManifest } from './manifest-store.js'
import { fetchSegment, type BadPiece } from './segment-fetch.js'

export interface DownloadOptions extends AbortOptions {
  locator: PieceLocator
  client?: PieceClient
  /** Segments fetched ahead of the one being written. @defaultValue 3 */
  concurrency?: number
  /** Extra piece requests per segment beyond k. @defaultValue 1 */
  extra?: number
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
  try {
    const { manifest } = await fetchManifest(capability.manifestId, options.locator, client, { signal: options.signal, log })
    const sealed = openSealed(manifest, capability.key)
    checkSizes(manifest, sealed.size)
    options.onManifest?.({ name: sealed.name, size: sealed.size })
    const coder = await createErasureCoder(manifest.params.dataShards, manifest.params.parityShards)
    const ids = manifest.segments.flatMap(s => s.pieces.map(p => p.id))
    const holders: Map<PieceId, Holder[]> = await options.locator.locate(ids, options)
    const badPieces: BadPiece[] = []
    const hash = createHash('sha256')
    const concurrency = options.concurrency ?? 3
    const last = manifest.segments.length - 1
    let written = 0

    const fetchPlain = async (index: number): Promise<Buffer> => {
      const layout = manifest.segments[index] as Manifest['segments'][number]
      const padded = await fetchSegment(layout, holders, coder, client, {
        signal: options.signal,
        extra: options.extra,
        onBadPiece: bad => {
          badPieces.push(bad)
          log.warn(bad, 'bad or missing piece; fetched another')
        }
      })
      return decryptSegment(sealed.dataKey, index, padded.subarray(0, layout.cipherSize), index === last)
    }

    // Fetch ahead in order; write strictly in order.
    const pending: Array<Promise<Buffer>> = []
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
      const plain = await (pending.shift() as Promise<Buffer>)
      fill()
      hash.update(plain)
      await write(output, plain, options.signal)
      written += plain.length
      options.onProgress?.(written, sealed.size)
    }
    const sha256 = hash.digest('hex')
    if (written !== sealed.size) throw new InvalidManifestError(`Manifest promised ${sealed.size} bytes, segments held ${written}`)
    if (sha256 !== sealed.sha256) throw new FileHashMismatchError()
    return { name: sealed.name, size: sealed.size, sha256, segments: manifest.segments.length, badPieces, seconds: (performance.now() - started) / 1000 }
  } finally {
    if (options.client === undefined) client.close()
  }
}

function checkSizes (manifest: Manifest, size: number): void {
  const expected = manifest.segments.reduce((sum, s) => sum + s.cipherSize - AEAD_TAG_SIZE, 0)
  if (expected !== size) throw new InvalidManifestError(`Sealed size ${size} does not match the segment layout (${expected})`)
}

async function write (output: Writable, chunk: Buffer, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted === true) throw abortReason(signal)
  if (output.write(chunk)) return
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

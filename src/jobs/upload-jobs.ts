import { createReadStream } from 'node:fs'
import { Readable } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import { MiB } from '../core/constants.js'
import { InvalidArgumentError, NotOwnerError, PeerUnreachableError, errorCode, errorMessage } from '../core/errors.js'
import type { PieceId } from '../core/ids.js'
import type { Logger } from '../core/logger.js'
import { upload, type StorageNetwork, type UploadResult } from '../client/index.js'
import type { Identity } from '../crypto/keys.js'
import { sealTo } from '../crypto/sealed-box.js'
import { formatContact, type PieceClient } from '../transfer/index.js'
import type { Durability } from './durability.js'
import type { FileRegistry } from './file-registry.js'
import { excludedNodes } from './judge.js'
import type { PayloadOf } from './payloads.js'
import type { NodeRegistry } from './registry.js'

/**
 * The upload queue's processors (the controller's work):
 *   upload-file → stores a file and returns its verify capability and its read capability sealed
 *                 to the requester's key (the only form in which the key leaves this worker)
 *   delete-file → releases every piece and manifest copy of a file on every holder (deletes are
 *                 signed by this worker's identity, the owner of what it uploaded)
 */
export interface UploadJobDeps {
  network: StorageNetwork
  /** Signs puts and deletes: the owner of every piece this worker stores. */
  client: PieceClient
  identity: Identity
  files: FileRegistry
  nodes: NodeRegistry
  durability: Durability
  logger?: Logger
}

/** The client's upload result without the read capability and the per-node details, plus: */
export type UploadJobResult = Pick<UploadResult, 'manifestId' | 'size' | 'sha256' | 'dataShards' | 'parityShards' | 'segments' | 'pieces' | 'bytesStored' | 'seconds'> & {
  /** batchain:v1:… — safe to show anywhere. */
  capability: string
  /** base64url sealed box of the read capability (crypto/sealed-box.ts), for `recipient` only. */
  sealedCapability: string
}

function sourceStream (source: PayloadOf<'upload', 'upload-file'>['source'], signal: AbortSignal | undefined): Promise<AsyncIterable<Uint8Array>> | AsyncIterable<Uint8Array> {
  switch (source.kind) {
    case 'inline':
      return Readable.from([Buffer.from(source.base64, 'base64')])
    case 'path':
      return createReadStream(source.path, { highWaterMark: 4 * MiB })
    case 'url':
      return (async () => {
        const res = await fetch(source.url, { signal, redirect: 'follow' })
        if (!res.ok || res.body === null) throw new InvalidArgumentError(`Fetching the source failed: HTTP ${res.status} ${res.statusText}`)
        return Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>)
      })()
  }
}

export async function processUploadFile (data: PayloadOf<'upload', 'upload-file'>, deps: UploadJobDeps, signal?: AbortSignal, jobId?: string): Promise<UploadJobResult> {
  const options = signal === undefined ? {} : { signal }
  const recipient = Buffer.from(data.recipient, 'base64url')
  const nodes = await deps.nodes.list(options)
  const result = await upload(await sourceStream(data.source, signal), {
    network: deps.network,
    client: deps.client,
    identity: deps.identity,
    name: data.name ?? '',
    ...(data.dataShards === undefined ? {} : { dataShards: data.dataShards }),
    ...(data.parityShards === undefined ? {} : { parityShards: data.parityShards }),
    exclude: { nodeIds: excludedNodes(nodes, deps.nodes.reputation) },
    ...options,
    ...(deps.logger === undefined ? {} : { logger: deps.logger })
  })
  const verify = `batchain:v1:${result.manifestId}`
  await deps.durability.register(verify, {
    ...(data.name === undefined || data.name === '' ? {} : { label: data.name }),
    ...(data.owner === undefined ? {} : { owner: data.owner }),
    ...(data.repairThreshold === undefined ? {} : { repairThreshold: data.repairThreshold })
  }, options)
  deps.logger?.info({ manifestId: result.manifestId, size: result.size, owner: data.owner }, 'uploaded')
  const out: UploadJobResult = {
    manifestId: result.manifestId,
    capability: verify,
    sealedCapability: sealTo(Buffer.from(result.capability, 'utf8'), recipient).toString('base64url'),
    size: result.size,
    sha256: result.sha256,
    dataShards: result.dataShards,
    parityShards: result.parityShards,
    segments: result.segments,
    pieces: result.pieces,
    bytesStored: result.bytesStored,
    seconds: result.seconds
  }
  if (jobId !== undefined) await deps.files.recordUpload(jobId, { ...out }, options)
  return out
}

export interface DeleteJobResult {
  manifestId: string
  /** Piece and manifest copies found. */
  copies: number
  /** Copies whose bytes are gone (no owner left on the node). */
  deleted: number
  /** Copies this owner released while another owner keeps them. */
  released: number
  /** Copies held for other owners only (not ours to delete). */
  notOwner: number
  /** Holders that did not answer: their copies expire with their pointer records. */
  unreachable: number
}

export async function processDeleteFile (data: PayloadOf<'upload', 'delete-file'>, deps: UploadJobDeps, signal?: AbortSignal): Promise<DeleteJobResult> {
  const options = signal === undefined ? {} : { signal }
  const manifestId = data.capability.slice('batchain:v1:'.length)
  const manifest = await deps.durability.manifest(manifestId, options)
  const ids = [...manifest.segments.flatMap(s => s.pieces.map(p => p.id)), manifestId as PieceId]
  const result: DeleteJobResult = { manifestId, copies: 0, deleted: 0, released: 0, notOwner: 0, unreachable: 0 }
  for (let i = 0; i < ids.length; i += 256) {
    const batch = ids.slice(i, i + 256)
    const holders = await deps.network.locator.locate(batch, options)
    for (const [id, list] of holders) {
      for (const holder of list) {
        result.copies++
        try {
          const { deleted } = await deps.client.delete(holder, id, options)
          if (deleted) result.deleted++
          else result.released++
        } catch (err) {
          if (signal?.aborted === true) throw err
          if (err instanceof NotOwnerError || errorCode(err) === 'BATCHAIN_ERR_NOT_OWNER') result.notOwner++
          else if (err instanceof PeerUnreachableError || errorCode(err) === 'BATCHAIN_ERR_PEER_UNREACHABLE' || errorCode(err) === 'BATCHAIN_ERR_TIMEOUT') result.unreachable++
          else {
            deps.logger?.warn({ node: formatContact(holder), piece: id.slice(0, 16), err: errorMessage(err) }, 'delete refused')
            throw err
          }
        }
      }
    }
  }
  await deps.files.remove(manifestId, options)
  deps.logger?.info({ ...result, owner: data.owner }, 'deleted')
  return result
}

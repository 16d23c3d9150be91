import { sleep, type AbortOptions } from '../core/abort.js'
import { MiB } from '../core/constants.js'
import { InvalidManifestError, NotEnoughNodesError, PieceNotFoundError, errorMessage } from '../core/errors.js'
import type { PieceId } from '../core/ids.js'
import type { Logger } from '../core/logger.js'
import { pieceIdOf } from '../crypto/merkle.js'
import type { PointerRecord } from '../crypto/pointer.js'
import { decodeManifest, type Manifest } from '../manifest/index.js'
import { formatContact, type Contact, type PieceClient } from '../transfer/index.js'
import type { PieceLocator } from './locator.js'

/** Largest manifest we fetch; a 10 GiB file at 8 MiB segments, 4+2, is about 0.8 MiB. */
export const MAX_MANIFEST_SIZE = 64 * MiB

/**
 * The manifest is itself a piece (its id is the Merkle root of its bytes), copied
 * whole onto several nodes since every other piece is useless without it.
 * Stores on `replicas` nodes and requires at least `minReplicas` confirmations.
 */
export async function storeManifest (bytes: Buffer, nodes: readonly Contact[], client: PieceClient, options: AbortOptions & { replicas: number, minReplicas: number, log: Logger }): Promise<{ id: PieceId, holders: string[], pointers: PointerRecord[] }> {
  const id = pieceIdOf(bytes)
  const holders: string[] = []
  const pointers: PointerRecord[] = []
  const queue = [...nodes]
  await Promise.all(Array.from({ length: Math.min(options.replicas, nodes.length) }, async () => {
    for (let node = queue.shift(); node !== undefined; node = queue.shift()) {
      try {
        const { pointer } = await client.put(node, id, bytes, options)
        holders.push(formatContact(node))
        if (pointer !== undefined) pointers.push(pointer)
        return
      } catch (err) {
        if (options.signal?.aborted === true) throw err
        options.log.warn({ node: formatContact(node), err: errorMessage(err) }, 'manifest put failed; trying another node')
      }
    }
  }))
  if (holders.length < options.minReplicas) {
    throw new NotEnoughNodesError(`The manifest reached only ${holders.length} nodes; at least ${options.minReplicas} are needed`)
  }
  return { id, holders, pointers }
}

const MANIFEST_LOCATE_ATTEMPTS = 3

/** Fetches a manifest by id from any holder, checking its bytes against the id before parsing them. */
export async function fetchManifest (id: PieceId, locator: PieceLocator, client: PieceClient, options: AbortOptions & { log: Logger }): Promise<{ manifest: Manifest, bytes: Buffer }> {
  // A lookup that meets overloaded nodes (timeouts) can come back empty although the records are
  // there: look again a couple of times before calling the manifest missing.
  let holders = (await locator.locate([id], options)).get(id) ?? []
  for (let attempt = 1; holders.length === 0 && attempt < MANIFEST_LOCATE_ATTEMPTS; attempt++) {
    await sleep(250 * attempt, options)
    holders = (await locator.locate([id], options)).get(id) ?? []
  }
  if (holders.length === 0) throw new PieceNotFoundError(`No node holds manifest ${id.slice(0, 16)}…`)
  let lastError: unknown
  for (const holder of holders) {
    try {
      const { data } = await client.get(holder, id, { ...options, maxSize: MAX_MANIFEST_SIZE })
      if (pieceIdOf(data) !== id) {
        options.log.warn({ node: formatContact(holder) }, 'node returned a manifest that does not match its id')
        lastError = new InvalidManifestError('A node returned manifest bytes that do not match the capability')
        continue
      }
      return { manifest: decodeManifest(data), bytes: data }
    } catch (err) {
      if (options.signal?.aborted === true) throw err
      lastError = err
    }
  }
  throw lastError instanceof Error ? lastError : new PieceNotFoundError('Manifest could not be fetched')
}

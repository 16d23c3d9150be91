import type { NodeId, PieceId } from '../core/ids.js'
import type { DhtKey } from './types.js'

/** Hex chars of a 160-bit key. */
export const DHT_KEY_HEX = 40

/**
 * Maps a 256-bit id (piece or node: both SHA-256 outputs) onto kadence's 160-bit keyspace by taking
 * its first 160 bits. SHA-256 output is uniform, so the prefix is a uniform key, and because node
 * identities are the same prefix of node ids, "closest to a piece" is one order in both spaces.
 */
export function dhtKeyOf (id: PieceId | NodeId | string): DhtKey {
  if (!/^[0-9a-f]{40,}$/.test(id)) throw new TypeError(`not a hex id: ${JSON.stringify(id).slice(0, 80)}`)
  return id.slice(0, DHT_KEY_HEX) as DhtKey
}

import { randomBytes } from 'node:crypto'
import { InvalidArgumentError } from '../core/errors.js'
import type { NodeId, PieceId } from '../core/ids.js'
import type { DhtKey } from './types.js'

/**
 * Keys of the 160-bit Kademlia space and XOR distance.
 *
 * Our ids are 256-bit SHA-256 outputs; kadence's keyspace is 160 bits (B = 160). A DhtKey is the
 * first 160 bits of an id: SHA-256 output is uniform, so its prefix is a uniform 160-bit key, and
 * since a KadNode's identity is the same prefix of its node id, "closest to a piece" means the same
 * thing for pieces and nodes.
 */

/** Key length in bytes (B = 160 bits). */
export const KEY_BYTES = 20
/** Key length in bits; also the number of buckets. */
export const KEY_BITS = KEY_BYTES * 8

/** Hex chars of a 160-bit key. */
export const DHT_KEY_HEX = 40

const HEX40 = /^[0-9a-f]{40}$/
const ID_HEX = /^[0-9a-f]{40,}$/

export function isDhtKey (value: unknown): value is DhtKey {
  return typeof value === 'string' && HEX40.test(value)
}

/** Validates untrusted input as a DhtKey. */
export function toDhtKey (value: unknown): DhtKey {
  if (!isDhtKey(value)) throw new InvalidArgumentError('A DHT key is 40 lowercase hex characters', { details: { got: typeof value === 'string' ? value.slice(0, 80) : typeof value } })
  return value
}

/**
 * The DHT key of a 256-bit id (piece id or node id): its first 40 hex characters. A 40-hex key maps
 * to itself.
 */
export function dhtKeyOf (id: PieceId | NodeId | string): DhtKey {
  if (typeof id !== 'string' || !ID_HEX.test(id)) {
    throw new InvalidArgumentError('dhtKeyOf needs a lowercase hex id of at least 40 characters', { details: { got: typeof id === 'string' ? id.slice(0, 80) : typeof id } })
  }
  return id.slice(0, DHT_KEY_HEX) as DhtKey
}

/** The key as 20 bytes (kadence identities are Buffers). */
export function keyBytes (key: DhtKey): Buffer {
  return Buffer.from(key, 'hex')
}

/** XOR distance of two keys, as 20 bytes (big-endian; compare with Buffer.compare). */
export function xorDistance (a: DhtKey, b: DhtKey): Buffer {
  const x = Buffer.from(a, 'hex')
  const y = Buffer.from(b, 'hex')
  for (let i = 0; i < KEY_BYTES; i++) x[i] = (x[i] as number) ^ (y[i] as number)
  return x
}

/**
 * Orders keys by XOR distance to a target without allocating per comparison (lookups sort often).
 * Returns < 0 when `a` is closer to the target than `b`, 0 when equal.
 */
export function compareDistance (a: Buffer, b: Buffer, target: Buffer): number {
  for (let i = 0; i < KEY_BYTES; i++) {
    const t = target[i] as number
    const da = (a[i] as number) ^ t
    const db = (b[i] as number) ^ t
    if (da !== db) return da - db
  }
  return 0
}

/** A comparator of DhtKeys by distance to `target` (hex decoded once per key). */
export function byDistanceTo (target: DhtKey): (a: DhtKey, b: DhtKey) => number {
  const t = keyBytes(target)
  const cache = new Map<string, Buffer>()
  const bytes = (k: DhtKey): Buffer => {
    let b = cache.get(k)
    if (b === undefined) { b = keyBytes(k); cache.set(k, b) }
    return b
  }
  return (a, b) => compareDistance(bytes(a), bytes(b), t)
}

/** Sorts items closest-first by the XOR distance of their key to `target` (a new array). */
export function sortByDistance<T> (items: Iterable<T>, target: DhtKey, keyOf: (item: T) => DhtKey): T[] {
  const t = keyBytes(target)
  const decorated = [...items].map(item => ({ item, bytes: keyBytes(keyOf(item)) }))
  decorated.sort((x, y) => compareDistance(x.bytes, y.bytes, t))
  return decorated.map(d => d.item)
}

/**
 * Bucket index of `other` as seen from `self`, kadence's numbering: 159 for keys differing in the
 * first bit (the far half of the space), 0 for keys differing only in the last bit; -1 for self.
 */
export function bucketIndex (self: DhtKey, other: DhtKey): number {
  const d = xorDistance(self, other)
  for (let i = 0; i < KEY_BYTES; i++) {
    const byte = d[i] as number
    if (byte !== 0) return KEY_BITS - 1 - (i * 8 + Math.clz32(byte) - 24)
  }
  return -1
}

/** A random key in bucket `index` of `self` (shares the bits above `index`, differs at it). */
export function randomKeyInBucket (self: DhtKey, index: number): DhtKey {
  if (!Number.isInteger(index) || index < 0 || index >= KEY_BITS) throw new InvalidArgumentError(`bucket index must be 0..${KEY_BITS - 1}`)
  const key = keyBytes(self)
  const random = randomBytes(KEY_BYTES)
  const bit = KEY_BITS - 1 - index // position from the most significant bit
  const byteAt = bit >> 3
  const mask = 0x80 >> (bit & 7)
  // Flip the bit at `index`, keep everything above it, randomise everything below it.
  key[byteAt] = (key[byteAt] as number) ^ mask
  const below = mask - 1
  key[byteAt] = ((key[byteAt] as number) & ~below) | ((random[byteAt] as number) & below)
  for (let i = byteAt + 1; i < KEY_BYTES; i++) key[i] = random[i] as number
  return key.toString('hex') as DhtKey
}

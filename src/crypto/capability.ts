import { InvalidCapabilityError } from '../core/errors.js'
import { isPieceId, type PieceId } from '../core/ids.js'
import { KEY_SIZE } from './aead.js'

/**
 * Capability strings: all a user holds to reach a file.
 *   read:   batchain:r1:<64 hex manifest id>:<base64url 32-byte key>
 *   verify: batchain:v1:<64 hex manifest id>
 * A verify capability is derived from a read capability by dropping the key;
 * it is enough to audit and repair, never to read.
 */

export interface ReadCapability { kind: 'read', manifestId: PieceId, key: Buffer }
export interface VerifyCapability { kind: 'verify', manifestId: PieceId }
export type Capability = ReadCapability | VerifyCapability

const PREFIX = 'batchain'
const READ_TAG = 'r1'
const VERIFY_TAG = 'v1'
/** base64url without padding of 32 bytes is 43 characters. */
const KEY_TEXT_LENGTH = Math.ceil(KEY_SIZE * 4 / 3)
const BASE64URL = /^[A-Za-z0-9_-]+$/

export function formatCapability (cap: Capability): string {
  if (!isPieceId(cap.manifestId)) throw new InvalidCapabilityError('Capability manifest id must be 64 lowercase hex characters')
  if (cap.kind === 'verify') return `${PREFIX}:${VERIFY_TAG}:${cap.manifestId}`
  if (cap.kind !== 'read') throw new InvalidCapabilityError(`Unknown capability kind ${JSON.stringify((cap as { kind: unknown }).kind)}`)
  if (!(cap.key instanceof Uint8Array) || cap.key.length !== KEY_SIZE) throw new InvalidCapabilityError(`Read capability key must be ${KEY_SIZE} bytes`)
  return `${PREFIX}:${READ_TAG}:${cap.manifestId}:${Buffer.from(cap.key).toString('base64url')}`
}

function bad (message: string): never {
  throw new InvalidCapabilityError(`Invalid capability: ${message}`)
}

/** Parses a capability string (surrounding whitespace ignored); throws InvalidCapabilityError saying what is wrong. */
export function parseCapability (text: string): Capability {
  if (typeof text !== 'string') bad('not a string')
  const parts = text.trim().split(':')
  if (parts[0] !== PREFIX) bad(`must start with "${PREFIX}:"`)
  const tag = parts[1]
  const expected = tag === READ_TAG ? 4 : tag === VERIFY_TAG ? 3 : bad(`unknown kind ${JSON.stringify(tag ?? '')} (expected "${READ_TAG}" or "${VERIFY_TAG}")`)
  if (parts.length !== expected) bad(`a ${tag} capability has ${expected} colon-separated parts, got ${parts.length}`)
  const manifestId = parts[2] ?? ''
  if (!isPieceId(manifestId)) bad('manifest id must be 64 lowercase hex characters')
  if (tag === VERIFY_TAG) return { kind: 'verify', manifestId }
  const keyText = parts[3] ?? ''
  if (keyText.length !== KEY_TEXT_LENGTH || !BASE64URL.test(keyText)) bad(`key must be ${KEY_TEXT_LENGTH} base64url characters (${KEY_SIZE} bytes)`)
  const key = Buffer.from(keyText, 'base64url')
  // Non-canonical encodings (stray low bits in the last character) would give
  // two strings for one key; accept only the canonical one.
  if (key.length !== KEY_SIZE || key.toString('base64url') !== keyText) bad('key is not canonical base64url of 32 bytes')
  return { kind: 'read', manifestId, key }
}

/** The verify capability of any capability (a read capability minus its key). */
export function toVerifyCapability (cap: Capability): VerifyCapability {
  return { kind: 'verify', manifestId: cap.manifestId }
}

import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { z } from 'zod'
import { AEAD_TAG_SIZE } from '../core/constants.js'
import { DecryptionError, InvalidArgumentError, InvalidManifestError } from '../core/errors.js'
import { KEY_SIZE } from '../crypto/aead.js'
import { canonicalJson } from './canonical-json.js'
import type { Manifest, SealedInfo } from './manifest.js'
import { MAX_SEALED_LENGTH } from './manifest-schema.js'

/**
 * The sealed part of a manifest: AES-256-GCM under a key derived from the read
 * capability's key with HKDF-SHA256 (info 'batchain manifest seal v1'), so the
 * read key is never used directly as a cipher key and the derivation is bound to
 * its purpose. The nonce is random (12 bytes): sealing is rare and a manifest may
 * be resealed, so a counter would buy nothing.
 */

const NONCE_SIZE = 12
const HKDF_INFO = 'batchain manifest seal v1'
/** Most UTF-8 bytes of a file name; keeps sealed text under MAX_SEALED_LENGTH. */
export const MAX_NAME_BYTES = 4096

function sealKey (readKey: Uint8Array): Buffer {
  if (!(readKey instanceof Uint8Array) || readKey.length !== KEY_SIZE) {
    throw new InvalidArgumentError(`Read key must be ${KEY_SIZE} bytes`)
  }
  return Buffer.from(hkdfSync('sha256', readKey, Buffer.alloc(0), HKDF_INFO, KEY_SIZE))
}

const sealedJsonSchema = z.strictObject({
  name: z.string().refine(name => Buffer.byteLength(name) <= MAX_NAME_BYTES, `must be at most ${MAX_NAME_BYTES} bytes`),
  size: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters'),
  dataKey: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be 43 base64url characters (32 bytes)')
})

/** Encrypts the private part of a manifest; returns the `sealed` text. */
export function sealInfo (info: SealedInfo, readKey: Uint8Array): string {
  const key = sealKey(readKey)
  if (!(info.dataKey instanceof Uint8Array) || info.dataKey.length !== KEY_SIZE) throw new InvalidArgumentError(`dataKey must be ${KEY_SIZE} bytes`)
  const plain = { name: info.name, size: info.size, sha256: info.sha256, dataKey: Buffer.from(info.dataKey).toString('base64url') }
  const checked = sealedJsonSchema.safeParse(plain)
  if (!checked.success) {
    const issue = checked.error.issues[0]
    throw new InvalidArgumentError(`Sealed info ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'is invalid'}`)
  }
  const nonce = randomBytes(NONCE_SIZE)
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: AEAD_TAG_SIZE })
  const body = Buffer.concat([cipher.update(canonicalJson(plain), 'utf8'), cipher.final()])
  const sealed = Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url')
  if (sealed.length > MAX_SEALED_LENGTH) throw new InvalidArgumentError('Sealed info is too large (file name too long)')
  return sealed
}

/**
 * Decrypts a manifest's private part. DecryptionError when the key is wrong or the
 * sealed bytes were tampered with; InvalidManifestError when they decrypt but do
 * not hold a well-formed SealedInfo.
 */
export function openSealed (manifest: Manifest, readKey: Uint8Array): SealedInfo {
  const key = sealKey(readKey)
  const text = manifest.sealed
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text)) throw new InvalidManifestError('Invalid manifest: manifest.sealed must be base64url')
  const raw = Buffer.from(text, 'base64url')
  if (raw.length <= NONCE_SIZE + AEAD_TAG_SIZE) throw new InvalidManifestError('Invalid manifest: manifest.sealed is too short')
  const nonce = raw.subarray(0, NONCE_SIZE)
  const body = raw.subarray(NONCE_SIZE, raw.length - AEAD_TAG_SIZE)
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: AEAD_TAG_SIZE })
  decipher.setAuthTag(raw.subarray(raw.length - AEAD_TAG_SIZE))
  let plain: Buffer
  try {
    plain = Buffer.concat([decipher.update(body), decipher.final()])
  } catch (err) {
    throw new DecryptionError('Cannot open the manifest: wrong read key or tampered sealed data', { cause: err })
  }
  let value: unknown
  try {
    value = JSON.parse(plain.toString('utf8'))
  } catch (err) {
    throw new InvalidManifestError('Sealed manifest data is not JSON', { cause: err })
  }
  const parsed = sealedJsonSchema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new InvalidManifestError(`Sealed manifest data: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'is invalid'}`)
  }
  const { name, size, sha256, dataKey } = parsed.data
  return { name, size, sha256, dataKey: Buffer.from(dataKey, 'base64url') }
}

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { AEAD_TAG_SIZE } from '../core/constants.js'
import { DecryptionError, InvalidArgumentError } from '../core/errors.js'

/**
 * Authenticated encryption of file segments: AES-256-GCM, one call per segment.
 *
 * Nonce: 4 zero bytes || u64 big-endian segment index. A deterministic nonce is
 * safe here because GCM only needs a (key, nonce) pair never to repeat, and
 *  - every file gets a fresh random 256-bit key (`generateKey`), never reused
 *    across files or across uploads of the same file, and
 *  - within a file each segment index is encrypted exactly once.
 * So no (key, nonce) pair is ever used twice. Anyone reusing a key for a second
 * encryption of the same index breaks this: do not.
 *
 * AAD: version tag || u64 index || final flag. Binding the index stops segments
 * being reordered or swapped; binding the final flag makes truncation at a segment
 * boundary detectable (the last segment a reader sees must say it is final).
 */

export const KEY_SIZE = 32
const NONCE_SIZE = 12
const AAD_VERSION = Buffer.from('batchain segment v1\0', 'latin1')

/** A fresh random 256-bit segment key. One per file, never reused. */
export function generateKey (): Buffer {
  return randomBytes(KEY_SIZE)
}

function checkKey (key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_SIZE) {
    throw new InvalidArgumentError(`Segment key must be ${KEY_SIZE} bytes`, { details: { got: key instanceof Uint8Array ? key.length : typeof key } })
  }
}

function checkIndex (index: number): void {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new InvalidArgumentError(`Segment index must be a safe integer >= 0, got ${String(index)}`)
  }
}

function nonceFor (index: number): Buffer {
  const nonce = Buffer.alloc(NONCE_SIZE)
  nonce.writeBigUInt64BE(BigInt(index), 4)
  return nonce
}

function aadFor (index: number, final: boolean): Buffer {
  const aad = Buffer.alloc(AAD_VERSION.length + 9)
  AAD_VERSION.copy(aad, 0)
  aad.writeBigUInt64BE(BigInt(index), AAD_VERSION.length)
  aad[AAD_VERSION.length + 8] = final ? 1 : 0
  return aad
}

/**
 * Encrypts segment `index` of a file. Returns ciphertext || 16-byte tag
 * (length = plaintext.length + AEAD_TAG_SIZE). `final` must be true exactly for
 * the last segment of the file.
 */
export function encryptSegment (key: Uint8Array, index: number, plaintext: Uint8Array, final: boolean): Buffer {
  checkKey(key)
  checkIndex(index)
  const cipher = createCipheriv('aes-256-gcm', key, nonceFor(index), { authTagLength: AEAD_TAG_SIZE })
  cipher.setAAD(aadFor(index, final))
  const head = cipher.update(plaintext)
  const tail = cipher.final()
  return Buffer.concat([head, tail, cipher.getAuthTag()], plaintext.length + AEAD_TAG_SIZE)
}

/**
 * Decrypts and authenticates segment `index`. Throws DecryptionError when the
 * bytes were tampered with, the key is wrong, the segment sits at another index,
 * its final flag differs, or the input is shorter than a tag.
 */
export function decryptSegment (key: Uint8Array, index: number, sealed: Uint8Array, final: boolean): Buffer {
  checkKey(key)
  checkIndex(index)
  if (sealed.length < AEAD_TAG_SIZE) {
    throw new DecryptionError(`Encrypted segment ${index} is shorter than its authentication tag`, { details: { index, length: sealed.length } })
  }
  const body = sealed.subarray(0, sealed.length - AEAD_TAG_SIZE)
  const tag = sealed.subarray(sealed.length - AEAD_TAG_SIZE)
  const decipher = createDecipheriv('aes-256-gcm', key, nonceFor(index), { authTagLength: AEAD_TAG_SIZE })
  decipher.setAAD(aadFor(index, final))
  decipher.setAuthTag(tag)
  const head = decipher.update(body)
  try {
    // Nothing decrypted is released before final() has checked the tag.
    const tail = decipher.final()
    return tail.length === 0 ? head : Buffer.concat([head, tail])
  } catch (err) {
    head.fill(0)
    throw new DecryptionError(undefined, { cause: err, details: { index } })
  }
}

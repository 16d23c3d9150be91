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
 * Bytes handed to one cipher update() by the *Into variants: node:crypto always
 * allocates the output of update(), so feeding it a bounded slice keeps that
 * temporary small (cache-warm for the copy, cheap for the allocator and the GC)
 * instead of one extra segment-sized buffer per call.
 */
const UPDATE_CHUNK = 256 * 1024

/**
 * Like encryptSegment, but writes ciphertext || tag into `out` (which must hold
 * at least plaintext.length + AEAD_TAG_SIZE bytes) instead of allocating it, so
 * a caller can encrypt straight into a reusable, padded buffer. Returns the
 * number of bytes written. `out` must not overlap `plaintext`.
 */
export function encryptSegmentInto (key: Uint8Array, index: number, plaintext: Uint8Array, final: boolean, out: Uint8Array): number {
  checkKey(key)
  checkIndex(index)
  const sealedLength = plaintext.length + AEAD_TAG_SIZE
  if (!(out instanceof Uint8Array) || out.length < sealedLength) {
    throw new InvalidArgumentError(`Output must hold ${sealedLength} bytes`, { details: { got: out instanceof Uint8Array ? out.length : typeof out } })
  }
  const cipher = createCipheriv('aes-256-gcm', key, nonceFor(index), { authTagLength: AEAD_TAG_SIZE })
  cipher.setAAD(aadFor(index, final))
  let at = 0
  for (let i = 0; i < plaintext.length; i += UPDATE_CHUNK) {
    const part = cipher.update(plaintext.subarray(i, Math.min(plaintext.length, i + UPDATE_CHUNK)))
    out.set(part, at)
    at += part.length
  }
  const tail = cipher.final()
  out.set(tail, at)
  at += tail.length
  out.set(cipher.getAuthTag(), at)
  return at + AEAD_TAG_SIZE
}

/**
 * Like decryptSegment, but takes the sealed segment as consecutive parts (e.g.
 * the data shards it was split into, so they need not be joined first) and
 * writes the plaintext into `out` (at least total length - AEAD_TAG_SIZE bytes).
 * Returns the plaintext length. On failure `out` is zeroed before the
 * DecryptionError is thrown: nothing unauthenticated is left behind.
 * `out` must not overlap the parts.
 */
export function decryptSegmentInto (key: Uint8Array, index: number, parts: readonly Uint8Array[], final: boolean, out: Uint8Array): number {
  checkKey(key)
  checkIndex(index)
  const total = parts.reduce((sum, p) => sum + p.length, 0)
  if (total < AEAD_TAG_SIZE) {
    throw new DecryptionError(`Encrypted segment ${index} is shorter than its authentication tag`, { details: { index, length: total } })
  }
  const plainLength = total - AEAD_TAG_SIZE
  if (!(out instanceof Uint8Array) || out.length < plainLength) {
    throw new InvalidArgumentError(`Output must hold ${plainLength} bytes`, { details: { got: out instanceof Uint8Array ? out.length : typeof out } })
  }
  // The tag is the last 16 bytes of the concatenation; it may straddle two parts.
  const tag = Buffer.alloc(AEAD_TAG_SIZE)
  const decipher = createDecipheriv('aes-256-gcm', key, nonceFor(index), { authTagLength: AEAD_TAG_SIZE })
  decipher.setAAD(aadFor(index, final))
  let consumed = 0
  let at = 0
  for (const part of parts) {
    const bodyEnd = Math.max(0, Math.min(part.length, plainLength - consumed))
    for (let i = 0; i < bodyEnd; i += UPDATE_CHUNK) {
      const chunk = decipher.update(part.subarray(i, Math.min(bodyEnd, i + UPDATE_CHUNK)))
      out.set(chunk, at)
      at += chunk.length
    }
    if (bodyEnd < part.length) tag.set(part.subarray(bodyEnd), consumed + bodyEnd - plainLength)
    consumed += part.length
  }
  decipher.setAuthTag(tag)
  try {
    const tail = decipher.final()
    out.set(tail, at)
    return at + tail.length
  } catch (err) {
    out.fill(0, 0, plainLength)
    throw new DecryptionError(undefined, { cause: err, details: { index } })
  }
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

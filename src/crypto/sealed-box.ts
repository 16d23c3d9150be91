import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, createCipheriv, createDecipheriv, type KeyObject } from 'node:crypto'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { DecryptionError, InvalidArgumentError } from '../core/errors.js'

/**
 * Sealed boxes: a short secret encrypted to a recipient's X25519 public key, so it can cross
 * Redis and a worker's job result without anyone but the recipient reading it. The upload worker
 * seals the read capability it created to the controller's key; only the controller opens it (and
 * moves it into a Kubernetes Secret). Anonymous sender, as libsodium's crypto_box_seal:
 *
 *   ephemeral X25519 key pair (e, E); shared = X25519(e, R)
 *   key = HKDF-SHA256(shared, salt = E || R, info = "batchain sealed box v1"), 32 bytes
 *   box = E (32) || nonce (12) || AES-256-GCM(key, nonce, plaintext, aad = E || R) || tag (16)
 *
 * A fresh ephemeral key per box makes the nonce unique per key; the AAD binds box and recipient.
 */
const INFO = Buffer.from('batchain sealed box v1')
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex')
export const SEAL_PUBLIC_KEY_SIZE = 32
const OVERHEAD = 32 + 12 + 16

export interface SealKeys {
  /** Raw 32-byte X25519 public key: give it to senders (base64url in job payloads). */
  publicKey: Buffer
  privateKey: KeyObject
}

export function generateSealKeys (): SealKeys {
  const { privateKey, publicKey } = generateKeyPairSync('x25519')
  return { privateKey, publicKey: rawPublic(publicKey) }
}

function rawPublic (key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' }).subarray(X25519_SPKI_PREFIX.length)
}

function publicKeyObject (raw: Uint8Array): KeyObject {
  if (raw.length !== SEAL_PUBLIC_KEY_SIZE) throw new InvalidArgumentError(`A sealing public key is ${SEAL_PUBLIC_KEY_SIZE} bytes, got ${raw.length}`)
  return createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
}

function boxKey (shared: Buffer, ephemeral: Buffer, recipient: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephemeral, recipient]), INFO, 32))
}

/** Encrypts `plaintext` to `recipient` (raw X25519 public key). */
export function sealTo (plaintext: Uint8Array, recipient: Uint8Array): Buffer {
  const to = Buffer.from(recipient)
  const ephemeral = generateKeyPairSync('x25519')
  const e = rawPublic(ephemeral.publicKey)
  const key = boxKey(diffieHellman({ privateKey: ephemeral.privateKey, publicKey: publicKeyObject(to) }), e, to)
  const nonce = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, nonce)
  cipher.setAAD(Buffer.concat([e, to]))
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return Buffer.concat([e, nonce, body, cipher.getAuthTag()])
}

/** Opens a box sealed to `keys`; DecryptionError when it was not, or was altered. */
export function openSealed (box: Uint8Array, keys: SealKeys): Buffer {
  if (box.length < OVERHEAD) throw new DecryptionError('Sealed box too short')
  const b = Buffer.from(box)
  const e = b.subarray(0, 32)
  const nonce = b.subarray(32, 44)
  const tag = b.subarray(b.length - 16)
  try {
    const key = boxKey(diffieHellman({ privateKey: keys.privateKey, publicKey: publicKeyObject(e) }), e, keys.publicKey)
    const decipher = createDecipheriv('aes-256-gcm', key, nonce)
    decipher.setAAD(Buffer.concat([e, keys.publicKey]))
    decipher.setAuthTag(tag)
    return Buffer.concat([decipher.update(b.subarray(44, b.length - 16)), decipher.final()])
  } catch {
    throw new DecryptionError('Sealed box does not open with this key (wrong recipient or altered)')
  }
}

/** The sealing key pair in `file` (PKCS#8 PEM, mode 0600), created when absent. */
export async function loadOrCreateSealKeys (file: string): Promise<SealKeys> {
  try {
    const privateKey = createPrivateKey(await readFile(file, 'utf8'))
    if (privateKey.asymmetricKeyType !== 'x25519') throw new InvalidArgumentError(`${file} is not an X25519 key`)
    return { privateKey, publicKey: rawPublic(createPublicKey(privateKey)) }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const keys = generateSealKeys()
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, keys.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' })
  await chmod(file, 0o600)
  return keys
}

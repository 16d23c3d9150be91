import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { constants as fsConstants } from 'node:fs'
import { copyFile, link, mkdir, open, readFile, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { throwIfAborted, type AbortOptions } from '../core/abort.js'
import { InvalidArgumentError, StoreError } from '../core/errors.js'
import type { NodeId } from '../core/ids.js'

/**
 * Ed25519 identities of nodes and uploaders, with node:crypto only.
 * A node id is hex SHA-256 of the raw 32-byte public key.
 */

export const PUBLIC_KEY_SIZE = 32
export const SIGNATURE_SIZE = 64

/** DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw key follows it. */
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

export interface Identity {
  /** 32 raw bytes. */
  readonly publicKey: Buffer
  readonly privateKey: KeyObject
  /** hex sha256(publicKey). */
  readonly id: NodeId
}

/** Node id of a raw Ed25519 public key. */
export function nodeIdOf (publicKey: Uint8Array): NodeId {
  return createHash('sha256').update(publicKey).digest('hex') as NodeId
}

function identityFromPrivateKey (privateKey: KeyObject): Identity {
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' })
  const publicKey = Buffer.from(spki.subarray(SPKI_ED25519_PREFIX.length))
  return { publicKey, privateKey, id: nodeIdOf(publicKey) }
}

/** A fresh random identity (in memory only). */
export function generateIdentity (): Identity {
  return identityFromPrivateKey(generateKeyPairSync('ed25519').privateKey)
}

/** Signs `data`; returns the 64-byte Ed25519 signature. */
export function sign (identity: Identity, data: Uint8Array): Buffer {
  return cryptoSign(null, data, identity.privateKey)
}

/** Checks an Ed25519 signature. Never throws: malformed keys or signatures just do not verify. */
export function verifySignature (publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_SIZE || signature.length !== SIGNATURE_SIZE) return false
  try {
    return cryptoVerify(null, data, publicKeyObject(publicKey), signature)
  } catch {
    return false
  }
}

/**
 * verifySignature on libuv's thread pool (node:crypto's callback form): for a batch of checks
 * that would otherwise hold the event loop, ~80 µs each here.
 */
export async function verifySignatureAsync (publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
  if (publicKey.length !== PUBLIC_KEY_SIZE || signature.length !== SIGNATURE_SIZE) return false
  let key: KeyObject
  try {
    key = publicKeyObject(publicKey)
  } catch {
    return false
  }
  return await new Promise<boolean>(resolve => {
    try {
      cryptoVerify(null, data, key, signature, (err, ok) => { resolve(err === null && ok) })
    } catch {
      resolve(false)
    }
  })
}

/**
 * Parsed public keys, by their raw bytes. Parsing a key (DER → KeyObject) costs about as much as
 * the verification itself, and the same few keys sign most of what a process checks: its peers'
 * pointer records and node infos, the owners of the pieces it stores. Bounded: cleared when full.
 */
const publicKeys = new Map<string, KeyObject>()
const MAX_CACHED_KEYS = 10_000

function publicKeyObject (raw: Uint8Array): KeyObject {
  const id = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64')
  let key = publicKeys.get(id)
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' })
    if (publicKeys.size >= MAX_CACHED_KEYS) publicKeys.clear()
    publicKeys.set(id, key)
  }
  return key
}

function parseIdentityPem (pem: string, file: string): Identity {
  let key: KeyObject
  try {
    key = createPrivateKey({ key: pem, format: 'pem' })
  } catch (err) {
    throw new StoreError(`Identity file ${file} is corrupt (not a PEM PKCS#8 private key); it was left untouched — restore it or move it away to create a new identity`, { cause: err, details: { file } })
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new StoreError(`Identity file ${file} holds a ${String(key.asymmetricKeyType)} key, not Ed25519; it was left untouched`, { details: { file } })
  }
  return identityFromPrivateKey(key)
}

async function readIdentity (file: string): Promise<Identity | undefined> {
  let pem: string
  try {
    pem = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new StoreError(`Cannot read identity file ${file}: ${(err as Error).message}`, { cause: err, details: { file } })
  }
  return parseIdentityPem(pem, file)
}

/**
 * Publishes `temp` at `file` only if `file` does not exist yet. link(2) is atomic
 * and fails with EEXIST instead of replacing (rename would clobber a concurrent
 * winner). Filesystems without hard links get an exclusive copy instead.
 * Returns false when another process won the race.
 */
async function publishExclusive (temp: string, file: string): Promise<boolean> {
  try {
    await link(temp, file)
    return true
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return false
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw err
  }
  try {
    await copyFile(temp, file, fsConstants.COPYFILE_EXCL)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  }
}

async function fsyncDir (dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r')
    try { await handle.sync() } finally { await handle.close() }
  } catch {
    // Some platforms cannot fsync a directory; the file itself is already synced.
  }
}

/**
 * Loads the identity in `file` (PEM PKCS#8), or creates one there. Creation is
 * atomic and never clobbers: the key is written to a private temp file (0600,
 * fsynced) and then linked into place only if nothing is there yet; when two
 * processes race, the loser loads the winner's key. An existing file that cannot
 * be read or parsed is a StoreError and is never overwritten.
 */
export async function loadOrCreateIdentity (file: string, options: AbortOptions = {}): Promise<Identity> {
  if (typeof file !== 'string' || file.length === 0) throw new InvalidArgumentError('Identity file path must be a non-empty string')
  throwIfAborted(options.signal)
  const existing = await readIdentity(file)
  if (existing !== undefined) return existing

  throwIfAborted(options.signal)
  const dir = dirname(file)
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new StoreError(`Cannot create directory ${dir} for the identity file: ${(err as Error).message}`, { cause: err, details: { file } })
  }
  const { privateKey } = generateKeyPairSync('ed25519')
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' })
  const temp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
  let published: boolean
  try {
    const handle = await open(temp, 'wx', 0o600)
    try {
      await handle.writeFile(pem, 'utf8')
      await handle.sync()
    } finally {
      await handle.close()
    }
    published = await publishExclusive(temp, file)
  } catch (err) {
    throw new StoreError(`Cannot write identity file ${file}: ${(err as Error).message}`, { cause: err, details: { file } })
  } finally {
    await unlink(temp).catch(() => {})
  }
  if (!published) {
    // Another process created it first: its key is the identity.
    const winner = await readIdentity(file)
    if (winner === undefined) throw new StoreError(`Identity file ${file} vanished while being created`, { details: { file } })
    return winner
  }
  await fsyncDir(dir)
  return identityFromPrivateKey(privateKey)
}

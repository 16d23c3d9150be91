import assert from 'node:assert/strict'
import { createHash, generateKeyPairSync } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { StoreError } from '../../../src/core/errors.js'
import { isNodeId } from '../../../src/core/ids.js'
import { generateIdentity, loadOrCreateIdentity, nodeIdOf, sign, verifySignature } from '../../../src/crypto/keys.js'

describe('identities and signatures', () => {
  test('an identity has a 32-byte key and id = sha256(publicKey)', () => {
    const identity = generateIdentity()
    assert.equal(identity.publicKey.length, 32)
    assert.ok(isNodeId(identity.id))
    assert.equal(identity.id, createHash('sha256').update(identity.publicKey).digest('hex'))
    assert.equal(nodeIdOf(identity.publicKey), identity.id)
    assert.notEqual(generateIdentity().id, identity.id)
  })

  test('sign / verify, and what must not verify', () => {
    const alice = generateIdentity()
    const bob = generateIdentity()
    const data = Buffer.from('delete piece 1234')
    const signature = sign(alice, data)
    assert.equal(signature.length, 64)
    assert.ok(verifySignature(alice.publicKey, data, signature))
    assert.equal(verifySignature(bob.publicKey, data, signature), false, 'wrong key')
    assert.equal(verifySignature(alice.publicKey, Buffer.from('delete piece 1235'), signature), false, 'other data')
    const flipped = Buffer.from(signature)
    flipped[10] = (flipped[10] as number) ^ 1
    assert.equal(verifySignature(alice.publicKey, data, flipped), false, 'tampered signature')
  })

  test('verifySignature never throws on malformed input', () => {
    const alice = generateIdentity()
    const data = Buffer.from('x')
    const signature = sign(alice, data)
    assert.equal(verifySignature(alice.publicKey.subarray(0, 31), data, signature), false)
    assert.equal(verifySignature(Buffer.concat([alice.publicKey, Buffer.alloc(1)]), data, signature), false)
    assert.equal(verifySignature(alice.publicKey, data, signature.subarray(0, 63)), false)
    assert.equal(verifySignature(Buffer.alloc(0), data, Buffer.alloc(0)), false)
    assert.equal(verifySignature(Buffer.alloc(32, 0xff), data, Buffer.alloc(64, 0xff)), false)
  })
})

describe('loadOrCreateIdentity', () => {
  let dir: string
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'batchain-keys-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  test('creates a 0600 PEM file and loads the same identity afterwards', async () => {
    const file = join(dir, 'nested', 'identity.pem')
    const created = await loadOrCreateIdentity(file)
    const info = await stat(file)
    assert.equal(info.mode & 0o777, 0o600)
    assert.match(await readFile(file, 'utf8'), /^-----BEGIN PRIVATE KEY-----/)
    const loaded = await loadOrCreateIdentity(file)
    assert.equal(loaded.id, created.id)
    assert.deepEqual(loaded.publicKey, created.publicKey)
    const data = Buffer.from('persisted')
    assert.ok(verifySignature(created.publicKey, data, sign(loaded, data)))
    assert.deepEqual((await readdir(join(dir, 'nested'))).sort(), ['identity.pem'], 'no temp files left behind')
  })

  test('racing creators all end up with one identity', async () => {
    const file = join(dir, 'race.pem')
    const identities = await Promise.all(Array.from({ length: 8 }, async () => await loadOrCreateIdentity(file)))
    assert.equal(new Set(identities.map(i => i.id)).size, 1)
    assert.equal((await loadOrCreateIdentity(file)).id, identities[0]?.id)
    assert.deepEqual((await readdir(dir)).filter(name => name.includes('race')), ['race.pem'])
  })

  test('a corrupt file is a StoreError and is left untouched', async () => {
    const file = join(dir, 'corrupt.pem')
    const garbage = '-----BEGIN PRIVATE KEY-----\nnot base64 at all!!\n-----END PRIVATE KEY-----\n'
    await writeFile(file, garbage, { mode: 0o600 })
    await assert.rejects(loadOrCreateIdentity(file), (err: unknown) => {
      assert.ok(err instanceof StoreError)
      assert.match(err.message, /corrupt/)
      assert.match(err.message, /corrupt\.pem/)
      return true
    })
    assert.equal(await readFile(file, 'utf8'), garbage)
  })

  test('an empty file is corrupt too, and not overwritten', async () => {
    const file = join(dir, 'empty.pem')
    await writeFile(file, '')
    await assert.rejects(loadOrCreateIdentity(file), StoreError)
    assert.equal((await readFile(file)).length, 0)
  })

  test('a key of another type is refused', async () => {
    const file = join(dir, 'ec.pem')
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string
    await writeFile(file, pem)
    await assert.rejects(loadOrCreateIdentity(file), /not Ed25519/)
    assert.equal(await readFile(file, 'utf8'), pem)
  })

  test('an unreadable path is a StoreError', async () => {
    await assert.rejects(loadOrCreateIdentity(dir), StoreError) // a directory, not a file
  })

  test('an aborted signal rejects before touching the disk', async () => {
    const file = join(dir, 'aborted.pem')
    await assert.rejects(loadOrCreateIdentity(file, { signal: AbortSignal.abort() }), { code: 'BATCHAIN_ERR_ABORTED' })
    await assert.rejects(stat(file), { code: 'ENOENT' })
  })
})

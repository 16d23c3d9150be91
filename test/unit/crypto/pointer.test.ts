import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import type { PieceId } from '../../../src/core/ids.js'
import { generateIdentity, sign, verifySignature } from '../../../src/crypto/keys.js'
import { checkPointer, preverifyPointers, signPointer } from '../../../src/crypto/pointer.js'

const pieceId = randomBytes(32).toString('hex') as PieceId

describe('pointer records', () => {
  test('a record checked once is accepted again; any change to it is still refused', () => {
    const holder = generateIdentity()
    const record = signPointer(holder, pieceId, { ttlMs: 60_000 })
    assert.deepEqual(checkPointer(record), { ok: true })
    assert.deepEqual(checkPointer({ ...record }), { ok: true })
    const flip = (text: string): string => (text[5] === 'A' ? 'B' : 'A') + text.slice(1)
    const other = generateIdentity()
    const variants: Array<[string, object]> = [
      ['piece', { ...record, pieceId: randomBytes(32).toString('hex') }],
      ['holder', { ...record, holder: other.id }],
      ['issuedAt', { ...record, issuedAt: record.issuedAt - 1 }],
      ['expiresAt', { ...record, expiresAt: record.expiresAt + 1 }],
      ['signature', { ...record, signature: flip(record.signature) }],
      ['publicKey', { ...record, publicKey: other.publicKey.toString('base64url') }],
      // The same characters split differently between key and signature.
      ['key/signature boundary', { ...record, publicKey: record.publicKey + record.signature.slice(0, 1), signature: record.signature.slice(1) }]
    ]
    for (const [what, changed] of variants) assert.equal(checkPointer(changed).ok, false, `changed ${what}`)
  })

  test('a record that verified earlier is refused once it has expired', () => {
    const record = signPointer(generateIdentity(), pieceId, { ttlMs: 10_000 })
    assert.equal(checkPointer(record).ok, true)
    assert.deepEqual(checkPointer(record, record.expiresAt + 1), { ok: false, reason: 'expired' })
  })
})

describe('verifySignature with cached keys', () => {
  test('many keys, each verifies its own signatures and no other key\'s', () => {
    const ids = Array.from({ length: 50 }, () => generateIdentity())
    const data = randomBytes(100)
    for (let round = 0; round < 2; round++) {
      ids.forEach((id, i) => {
        const signature = sign(id, data)
        assert.equal(verifySignature(id.publicKey, data, signature), true)
        const other = ids[(i + 1) % ids.length]!
        assert.equal(verifySignature(other.publicKey, data, signature), false)
      })
    }
  })

  test('a key or signature of the wrong length is refused, not thrown', () => {
    // (An all-zero 32-byte key is a small-order point: OpenSSL accepts some signatures under it,
    // which is why only lengths are asserted here.)
    const id = generateIdentity()
    const data = randomBytes(10)
    assert.equal(verifySignature(Buffer.alloc(31), data, sign(id, data)), false)
    assert.equal(verifySignature(id.publicKey, data, sign(id, data).subarray(0, 63)), false)
    assert.equal(verifySignature(id.publicKey, data, Buffer.alloc(64)), false)
  })
})

test('preverifyPointers (thread pool) accepts what checkPointer accepts and leaves forgeries to be refused', async () => {
  const holder = generateIdentity()
  const other = generateIdentity()
  const good = Array.from({ length: 20 }, () => signPointer(holder, randomBytes(32).toString('hex') as PieceId, { ttlMs: 60_000 }))
  const forged = good.slice(0, 5).map(r => ({ ...r, signature: signPointer(other, r.pieceId, { ttlMs: 60_000 }).signature }))
  const tampered = good.slice(5, 10).map(r => ({ ...r, expiresAt: r.expiresAt + 1 }))
  const garbage: unknown[] = [null, 'x', 42, {}, { ...good[0], publicKey: 'AAAA' }]
  await preverifyPointers([...good, ...forged, ...tampered, ...garbage])
  for (const r of good) assert.deepEqual(checkPointer(r), { ok: true })
  for (const r of [...forged, ...tampered]) assert.deepEqual(checkPointer(r), { ok: false, reason: 'bad signature' })
  for (const r of garbage) assert.equal(checkPointer(r).ok, false)
})

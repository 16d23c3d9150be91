import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import type { PieceId } from '../../../src/core/ids.js'
import { generateIdentity } from '../../../src/crypto/keys.js'
import { signPointer } from '../../../src/crypto/pointer.js'
import { PointerStore } from '../../../src/dht/pointer-store.js'

const piece = (): PieceId => randomBytes(32).toString('hex') as PieceId
const NOW = 1_700_000_000_000

describe('PointerStore', () => {
  test('keeps one record per holder per piece; the newest wins', () => {
    const store = new PointerStore()
    const holder = generateIdentity()
    const id = piece()
    const older = signPointer(holder, id, { ttlMs: 60_000, now: NOW })
    const newer = signPointer(holder, id, { ttlMs: 60_000, now: NOW + 1000 })
    assert.equal(store.put(older, NOW + 2000), 'stored')
    assert.equal(store.put(older, NOW + 2000), 'unchanged')
    assert.equal(store.put(newer, NOW + 2000), 'stored')
    assert.equal(store.put(older, NOW + 2000), 'stale')
    assert.deepEqual(store.get(id, NOW + 2000), [newer])
    assert.equal(store.size, 1)
  })

  test('several holders of one piece are all kept, newest first', () => {
    const store = new PointerStore()
    const id = piece()
    const records = [0, 1, 2].map(i => signPointer(generateIdentity(), id, { ttlMs: 60_000, now: NOW + i }))
    for (const r of records) assert.equal(store.put(r, NOW + 10), 'stored')
    assert.deepEqual(store.get(id, NOW + 10), [...records].reverse())
  })

  test('expired records are refused, not served, and swept', () => {
    const store = new PointerStore()
    const id = piece()
    const r = signPointer(generateIdentity(), id, { ttlMs: 1000, now: NOW })
    assert.equal(store.put(r, NOW + 1000), 'invalid', 'already expired')
    assert.equal(store.put(r, NOW + 10), 'stored')
    assert.deepEqual(store.get(id, NOW + 999), [r])
    assert.deepEqual(store.get(id, NOW + 1000), [])
    assert.equal(store.sweep(NOW + 1000), 1)
    assert.equal(store.size, 0)
  })

  test('forged records are refused: bad signature, holder not the key hash, fields changed', () => {
    const store = new PointerStore()
    const holder = generateIdentity()
    const other = generateIdentity()
    const good = signPointer(holder, piece(), { ttlMs: 60_000, now: NOW })
    const sig = Buffer.from(good.signature, 'base64url')
    sig[5] = (sig[5] as number) ^ 0x10
    const forgeries = [
      { ...good, signature: sig.toString('base64url') },
      { ...good, holder: other.id },
      { ...good, publicKey: other.publicKey.toString('base64url') },
      { ...good, pieceId: piece() },
      { ...good, expiresAt: good.expiresAt + 1 },
      { ...good, issuedAt: 'now' },
      null, 'x', {}
    ]
    for (const f of forgeries) assert.equal(store.put(f, NOW + 1), 'invalid')
    assert.equal(store.size, 0)
    assert.equal(store.put(good, NOW + 1), 'stored')
  })

  test('only the record fields are kept (extra fields are not stored or served)', () => {
    const store = new PointerStore()
    const r = signPointer(generateIdentity(), piece(), { ttlMs: 60_000, now: NOW })
    assert.equal(store.put({ ...r, junk: 'x'.repeat(1000) }, NOW), 'stored')
    assert.deepEqual(store.get(r.pieceId, NOW), [r])
  })

  test('holders per piece are bounded: a record that outlives the first to expire replaces it', () => {
    const store = new PointerStore({ maxHoldersPerPiece: 3 })
    const id = piece()
    const short = [1000, 2000, 3000].map(ttl => signPointer(generateIdentity(), id, { ttlMs: ttl, now: NOW }))
    for (const r of short) assert.equal(store.put(r, NOW), 'stored')
    const shorter = signPointer(generateIdentity(), id, { ttlMs: 500, now: NOW })
    assert.equal(store.put(shorter, NOW), 'full')
    const longer = signPointer(generateIdentity(), id, { ttlMs: 10_000, now: NOW })
    assert.equal(store.put(longer, NOW), 'stored')
    const holders = store.get(id, NOW).map(r => r.holder).sort()
    assert.deepEqual(holders, [short[1]!.holder, short[2]!.holder, longer.holder].sort())
    assert.equal(store.size, 3)
  })

  test('total records are bounded; expired ones make room', () => {
    const store = new PointerStore({ maxRecords: 2 })
    const a = signPointer(generateIdentity(), piece(), { ttlMs: 1000, now: NOW })
    const holderB = generateIdentity()
    const b = signPointer(holderB, piece(), { ttlMs: 60_000, now: NOW })
    const c = signPointer(generateIdentity(), piece(), { ttlMs: 60_000, now: NOW })
    assert.equal(store.put(a, NOW), 'stored')
    assert.equal(store.put(b, NOW), 'stored')
    assert.equal(store.put(c, NOW), 'full')
    assert.equal(store.put(c, NOW + 1000), 'stored', 'a expired and was swept')
    assert.equal(store.size, 2)
    // A new holder is refused while full; a held record's refresh is not a new record and is accepted.
    assert.equal(store.put(signPointer(generateIdentity(), b.pieceId, { ttlMs: 60_000, now: NOW + 5 }), NOW + 1000), 'full')
    assert.equal(store.put(signPointer(holderB, b.pieceId, { ttlMs: 60_000, now: NOW + 5 }), NOW + 1000), 'stored')
  })

  test('load re-checks records and drops expired ones; onChange fires on changes only', () => {
    const store = new PointerStore()
    const fresh = signPointer(generateIdentity(), piece(), { ttlMs: 60_000, now: NOW })
    const old = signPointer(generateIdentity(), piece(), { ttlMs: 1000, now: NOW })
    const forged = { ...fresh, holder: generateIdentity().id }
    let changes = 0
    store.onChange = () => { changes++ }
    assert.equal(store.load([fresh, old, forged, 'garbage'], NOW + 5000), 1)
    assert.equal(changes, 0, 'load does not trigger a save')
    assert.deepEqual(store.all(), [fresh])
    store.put(fresh, NOW + 5000)
    assert.equal(changes, 0, 'unchanged')
    store.put(signPointer(generateIdentity(), piece(), { ttlMs: 60_000, now: NOW }), NOW + 5000)
    assert.equal(changes, 1)
  })
  describe('lazy puts (STORE_POINTERS)', () => {
    const forge = (record: ReturnType<typeof signPointer>): ReturnType<typeof signPointer> => {
      const sig = Buffer.from(record.signature, 'base64url')
      sig[5] = (sig[5] as number) ^ 1
      return { ...record, signature: sig.toString('base64url') }
    }

    test('a holder\'s first record is kept unchecked, and checked before it is served: a forgery is dropped then', async () => {
      const store = new PointerStore()
      const id = piece()
      const real = signPointer(generateIdentity(), id, { ttlMs: 60_000, now: NOW })
      const fake = forge(signPointer(generateIdentity(), id, { ttlMs: 60_000, now: NOW }))
      assert.equal(store.put(fake, NOW, { lazy: true }), 'accepted')
      assert.equal(store.put(real, NOW, { lazy: true }), 'accepted')
      assert.equal(store.size, 2)
      assert.deepEqual(await store.servable(store.get(id, NOW), NOW), [real])
      assert.deepEqual(store.get(id, NOW), [real], 'the forgery is gone from the store')
      assert.equal(store.size, 1)
      // Checked once: serving again checks nothing more, and a non-lazy put of a forgery is refused outright.
      assert.deepEqual(await store.servable(store.get(id, NOW), NOW), [real])
      assert.equal(store.put(fake, NOW), 'invalid')
    })

    test('a forgery neither replaces a holder\'s record nor, kept first, makes the real one look stale', async () => {
      const store = new PointerStore()
      const holder = generateIdentity()
      const id = piece()
      const real = signPointer(holder, id, { ttlMs: 60_000, now: NOW })
      const laterFake = forge(signPointer(holder, id, { ttlMs: 60_000, now: NOW + 1000 }))
      assert.equal(store.put(real, NOW + 2000), 'stored')
      assert.equal(store.contested(laterFake), true)
      assert.equal(store.put(laterFake, NOW + 2000, { lazy: true }), 'invalid', 'checked: it would replace a kept record')
      assert.deepEqual(store.get(id, NOW + 2000), [real])

      const other = piece()
      const fakeFirst = forge(signPointer(holder, other, { ttlMs: 60_000, now: NOW + 1000 }))
      const realLater = signPointer(holder, other, { ttlMs: 60_000, now: NOW })
      assert.equal(store.put(fakeFirst, NOW + 2000, { lazy: true }), 'accepted')
      assert.equal(store.contested(realLater), true, 'it meets an unchecked record of its holder')
      assert.equal(store.put(realLater, NOW + 2000, { lazy: true }), 'accepted', 'the unchecked forgery was checked and dropped, not kept as newer')
      assert.deepEqual(await store.servable(store.get(other, NOW + 2000), NOW + 2000), [realLater])
    })

    test('at the holders-per-piece bound a lazy record is checked before it evicts one', () => {
      const store = new PointerStore({ maxHoldersPerPiece: 2 })
      const id = piece()
      const kept = [0, 1].map(i => signPointer(generateIdentity(), id, { ttlMs: 60_000 + i, now: NOW }))
      for (const r of kept) assert.equal(store.put(r, NOW), 'stored')
      const fake = forge(signPointer(generateIdentity(), id, { ttlMs: 120_000, now: NOW }))
      assert.equal(store.put(fake, NOW, { lazy: true }), 'invalid')
      assert.deepEqual(new Set(store.get(id, NOW)), new Set(kept))
      const real = signPointer(generateIdentity(), id, { ttlMs: 120_000, now: NOW })
      assert.equal(store.put(real, NOW, { lazy: true }), 'stored', 'checked (it evicts), so not left unchecked')
      assert.deepEqual(new Set(store.get(id, NOW)), new Set([kept[1], real]))
    })
  })
})

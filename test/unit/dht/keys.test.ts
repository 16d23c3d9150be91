import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import { InvalidArgumentError } from '../../../src/core/errors.js'
import type { DhtKey } from '../../../src/dht/index.js'
import { bucketIndex, byDistanceTo, compareDistance, dhtKeyOf, isDhtKey, keyBytes, randomKeyInBucket, sortByDistance, toDhtKey, xorDistance } from '../../../src/dht/keys.js'

const randomKey = (): DhtKey => randomBytes(20).toString('hex') as DhtKey

describe('dht keys', () => {
  test('dhtKeyOf takes the first 160 bits of a 256-bit id', () => {
    const id = randomBytes(32).toString('hex')
    const key = dhtKeyOf(id)
    assert.equal(key, id.slice(0, 40))
    assert.ok(isDhtKey(key))
    assert.equal(dhtKeyOf(key), key, 'a key maps to itself')
  })

  test('dhtKeyOf and toDhtKey refuse what is not lowercase hex', () => {
    for (const bad of ['', 'xyz', 'AB'.repeat(32), 'a'.repeat(39), 'g'.repeat(64)]) {
      assert.throws(() => dhtKeyOf(bad), InvalidArgumentError, bad)
    }
    assert.throws(() => toDhtKey('a'.repeat(41)), InvalidArgumentError)
    assert.throws(() => toDhtKey(42), InvalidArgumentError)
    assert.equal(toDhtKey('a'.repeat(40)), 'a'.repeat(40))
  })

  test('xor distance: zero to itself, symmetric, and the xor of the bytes', () => {
    const a = randomKey()
    const b = randomKey()
    assert.deepEqual(xorDistance(a, a), Buffer.alloc(20))
    assert.deepEqual(xorDistance(a, b), xorDistance(b, a))
    const x = keyBytes(a)
    const y = keyBytes(b)
    assert.deepEqual(xorDistance(a, b), Buffer.from(x.map((v, i) => v ^ (y[i] as number))))
  })

  test('compareDistance agrees with comparing xor distances as big-endian numbers', () => {
    for (let i = 0; i < 500; i++) {
      const t = randomKey()
      const a = randomKey()
      const b = i % 10 === 0 ? a : randomKey()
      const expected = Math.sign(Buffer.compare(xorDistance(a, t), xorDistance(b, t)))
      assert.equal(Math.sign(compareDistance(keyBytes(a), keyBytes(b), keyBytes(t))), expected)
      assert.equal(Math.sign(byDistanceTo(t)(a, b)), expected)
    }
  })

  test('sortByDistance orders closest first (brute-force check)', () => {
    const target = randomKey()
    const keys = Array.from({ length: 200 }, randomKey)
    const sorted = sortByDistance(keys, target, k => k)
    for (let i = 1; i < sorted.length; i++) {
      assert.ok(Buffer.compare(xorDistance(sorted[i - 1]!, target), xorDistance(sorted[i]!, target)) <= 0)
    }
    assert.deepEqual([...sorted].sort(), [...keys].sort())
  })

  test('bucketIndex: 159 for the far half, 0 for the last bit, -1 for self', () => {
    const self = '00'.repeat(20) as DhtKey
    assert.equal(bucketIndex(self, self), -1)
    assert.equal(bucketIndex(self, ('80' + '00'.repeat(19)) as DhtKey), 159)
    assert.equal(bucketIndex(self, ('00'.repeat(19) + '01') as DhtKey), 0)
    assert.equal(bucketIndex(self, ('00'.repeat(19) + 'ff') as DhtKey), 7)
    assert.equal(bucketIndex(self, ('01' + '00'.repeat(19)) as DhtKey), 152)
  })

  test('randomKeyInBucket lands in the asked bucket', () => {
    const self = randomKey()
    for (const index of [0, 1, 7, 8, 9, 63, 100, 152, 158, 159]) {
      for (let i = 0; i < 20; i++) assert.equal(bucketIndex(self, randomKeyInBucket(self, index)), index)
    }
    assert.throws(() => randomKeyInBucket(self, 160), InvalidArgumentError)
  })
})

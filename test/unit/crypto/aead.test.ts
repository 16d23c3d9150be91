import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import { AEAD_TAG_SIZE } from '../../../src/core/constants.js'
import { DecryptionError, InvalidArgumentError } from '../../../src/core/errors.js'
import { decryptSegment, decryptSegmentInto, encryptSegment, encryptSegmentInto, generateKey, KEY_SIZE } from '../../../src/crypto/aead.js'

describe('aead segments', () => {
  const key = generateKey()

  test('generateKey gives 32 fresh random bytes', () => {
    assert.equal(KEY_SIZE, 32)
    assert.equal(key.length, 32)
    assert.notDeepEqual(generateKey(), generateKey())
  })

  for (const size of [0, 1, 16, 17, 4096, 3 * 1024 * 1024 + 7]) {
    test(`round trip of ${size} bytes`, () => {
      const plain = randomBytes(size)
      for (const final of [false, true]) {
        const sealed = encryptSegment(key, 5, plain, final)
        assert.equal(sealed.length, size + AEAD_TAG_SIZE)
        if (size >= 16) assert.notDeepEqual(sealed.subarray(0, 16), plain.subarray(0, 16))
        assert.deepEqual(decryptSegment(key, 5, sealed, final), plain)
      }
    })
  }

  test('flipping any bit of ciphertext or tag fails', () => {
    const plain = randomBytes(100)
    const sealed = encryptSegment(key, 3, plain, false)
    for (let i = 0; i < sealed.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const tampered = Buffer.from(sealed)
        tampered[i] = (tampered[i] as number) ^ bit
        assert.throws(() => decryptSegment(key, 3, tampered, false), DecryptionError, `byte ${i} bit ${bit}`)
      }
    }
  })

  test('an empty segment is authenticated too', () => {
    const sealed = encryptSegment(key, 0, Buffer.alloc(0), true)
    const tampered = Buffer.from(sealed)
    tampered[0] = (tampered[0] as number) ^ 1
    assert.throws(() => decryptSegment(key, 0, tampered, true), DecryptionError)
  })

  test('wrong key, wrong index, wrong final flag fail', () => {
    const sealed = encryptSegment(key, 7, randomBytes(64), true)
    assert.throws(() => decryptSegment(generateKey(), 7, sealed, true), DecryptionError)
    assert.throws(() => decryptSegment(key, 6, sealed, true), DecryptionError)
    assert.throws(() => decryptSegment(key, 8, sealed, true), DecryptionError)
    assert.throws(() => decryptSegment(key, 7, sealed, false), DecryptionError)
    assert.doesNotThrow(() => decryptSegment(key, 7, sealed, true))
  })

  test('truncated input fails, including shorter than a tag', () => {
    const sealed = encryptSegment(key, 1, randomBytes(64), false)
    for (const length of [0, 1, 15, 16, 17, 40, sealed.length - 1]) {
      assert.throws(() => decryptSegment(key, 1, sealed.subarray(0, length), false), DecryptionError, `length ${length}`)
    }
    assert.throws(() => decryptSegment(key, 1, Buffer.concat([sealed, Buffer.from([0])]), false), DecryptionError)
  })

  test('distinct nonces per index: same plaintext encrypts differently', () => {
    const plain = Buffer.alloc(64, 0x42)
    const seen = new Set<string>()
    for (const index of [0, 1, 2, 255, 256, 2 ** 32, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER]) {
      const hex = encryptSegment(key, index, plain, false).subarray(0, 64).toString('hex')
      assert.ok(!seen.has(hex), `keystream repeated at index ${index}`)
      seen.add(hex)
      assert.deepEqual(decryptSegment(key, index, encryptSegment(key, index, plain, false), false), plain)
    }
  })

  test('encryption is deterministic for (key, index, final): the nonce comes from the index', () => {
    const plain = randomBytes(32)
    assert.deepEqual(encryptSegment(key, 9, plain, false), encryptSegment(key, 9, plain, false))
    // The final flag only changes the tag (it is AAD), not the keystream.
    const a = encryptSegment(key, 9, plain, false)
    const b = encryptSegment(key, 9, plain, true)
    assert.deepEqual(a.subarray(0, 32), b.subarray(0, 32))
    assert.notDeepEqual(a.subarray(32), b.subarray(32))
  })

  test('bad key length and index are InvalidArgumentErrors', () => {
    for (const bad of [Buffer.alloc(0), Buffer.alloc(16), Buffer.alloc(31), Buffer.alloc(33)]) {
      assert.throws(() => encryptSegment(bad, 0, Buffer.alloc(1), true), InvalidArgumentError)
      assert.throws(() => decryptSegment(bad, 0, Buffer.alloc(32), true), InvalidArgumentError)
    }
    for (const index of [-1, 1.5, Number.NaN, Infinity, Number.MAX_SAFE_INTEGER + 1]) {
      assert.throws(() => encryptSegment(key, index, Buffer.alloc(1), true), InvalidArgumentError, `index ${index}`)
      assert.throws(() => decryptSegment(key, index, Buffer.alloc(32), true), InvalidArgumentError, `index ${index}`)
    }
  })

  test('encryptSegmentInto / decryptSegmentInto match the allocating versions, across part boundaries', () => {
    for (const size of [0, 1, 15, 16, 300 * 1024 + 5, 3 * 1024 * 1024 + 7]) {
      const plain = randomBytes(size)
      const out = Buffer.alloc(size + AEAD_TAG_SIZE + 9, 0xee)
      const n = encryptSegmentInto(key, 4, plain, true, out)
      assert.equal(n, size + AEAD_TAG_SIZE)
      const sealed = encryptSegment(key, 4, plain, true)
      assert.deepEqual(out.subarray(0, n), sealed)
      assert.equal(out[n], 0xee, 'nothing written past the sealed length')
      // Split the sealed bytes into parts, including splits inside the tag.
      for (const cuts of [[], [1], [n - 1], [n - 8], [Math.floor(n / 3), Math.floor(2 * n / 3)]]) {
        const parts: Buffer[] = []
        let at = 0
        for (const c of [...cuts, n]) { parts.push(sealed.subarray(at, c)); at = c }
        const plainOut = Buffer.alloc(size + 3)
        assert.equal(decryptSegmentInto(key, 4, parts, true, plainOut), size)
        assert.deepEqual(plainOut.subarray(0, size), plain)
      }
    }
    assert.throws(() => encryptSegmentInto(key, 0, Buffer.alloc(10), true, Buffer.alloc(25)), InvalidArgumentError)
  })

  test('decryptSegmentInto fails loudly on tampering and zeroes its output', () => {
    const plain = randomBytes(1000)
    const sealed = encryptSegment(key, 2, plain, false)
    const tampered = Buffer.from(sealed)
    tampered[500] = (tampered[500] as number) ^ 1
    const out = Buffer.alloc(1000)
    assert.throws(() => decryptSegmentInto(key, 2, [tampered.subarray(0, 600), tampered.subarray(600)], false, out), DecryptionError)
    assert.ok(out.every(b => b === 0))
    assert.throws(() => decryptSegmentInto(key, 2, [sealed], true, out), DecryptionError)
    assert.throws(() => decryptSegmentInto(key, 2, [sealed.subarray(0, 10)], false, out), DecryptionError)
  })
})

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { generateSealKeys, loadOrCreateSealKeys, openSealed, sealTo, SEAL_PUBLIC_KEY_SIZE } from '../../../src/crypto/sealed-box.js'
import { withTempDir } from '../../helpers/tmp.js'

describe('sealed boxes', () => {
  const secret = Buffer.from('batchain:r1:' + 'a'.repeat(64) + ':' + 'k'.repeat(43))

  test('only the recipient opens a box, and gets the bytes back', () => {
    const keys = generateSealKeys()
    assert.equal(keys.publicKey.length, SEAL_PUBLIC_KEY_SIZE)
    const box = sealTo(secret, keys.publicKey)
    assert.equal(box.includes(secret), false, 'the plaintext is not in the box')
    assert.deepEqual(openSealed(box, keys), secret)
    assert.throws(() => openSealed(box, generateSealKeys()), { code: 'BATCHAIN_ERR_DECRYPTION_FAILED' })
  })

  test('two boxes of the same secret differ (fresh ephemeral key and nonce)', () => {
    const keys = generateSealKeys()
    assert.notDeepEqual(sealTo(secret, keys.publicKey), sealTo(secret, keys.publicKey))
  })

  test('any altered byte, a truncated box or a wrong-size key is refused', () => {
    const keys = generateSealKeys()
    const box = sealTo(secret, keys.publicKey)
    for (const at of [0, 31, 32, 43, 44, box.length - 17, box.length - 1]) {
      const bad = Buffer.from(box)
      bad[at] = (bad[at] as number) ^ 1
      assert.throws(() => openSealed(bad, keys), { code: 'BATCHAIN_ERR_DECRYPTION_FAILED' }, `byte ${at}`)
    }
    assert.throws(() => openSealed(box.subarray(0, 59), keys), { code: 'BATCHAIN_ERR_DECRYPTION_FAILED' })
    assert.throws(() => sealTo(secret, Buffer.alloc(31)), { code: 'BATCHAIN_ERR_INVALID_ARGUMENT' })
  })

  test('the key pair is created once, kept 0600, and loaded again', async () => {
    await withTempDir('seal', async dir => {
      const file = join(dir, 'keys', 'seal.pem')
      const first = await loadOrCreateSealKeys(file)
      assert.equal((await stat(file)).mode & 0o777, 0o600)
      const again = await loadOrCreateSealKeys(file)
      assert.deepEqual(again.publicKey, first.publicKey)
      assert.deepEqual(openSealed(sealTo(secret, first.publicKey), again), secret)
    })
  })
})

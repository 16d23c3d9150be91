import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import { InvalidCapabilityError } from '../../../src/core/errors.js'
import type { PieceId } from '../../../src/core/ids.js'
import { formatCapability, parseCapability, toVerifyCapability, type ReadCapability } from '../../../src/crypto/capability.js'

const manifestId = createHash('sha256').update('manifest').digest('hex') as PieceId
const key = randomBytes(32)
const keyText = key.toString('base64url')

describe('capabilities', () => {
  test('read capability round trip', () => {
    const cap: ReadCapability = { kind: 'read', manifestId, key }
    const text = formatCapability(cap)
    assert.equal(text, `batchain:r1:${manifestId}:${keyText}`)
    assert.equal(keyText.length, 43)
    assert.deepEqual(parseCapability(text), cap)
    assert.deepEqual(parseCapability(`  \n${text}\t `), cap, 'surrounding whitespace is ignored')
  })

  test('verify capability round trip and derivation', () => {
    const read: ReadCapability = { kind: 'read', manifestId, key }
    const verify = toVerifyCapability(read)
    assert.deepEqual(verify, { kind: 'verify', manifestId })
    assert.ok(!('key' in verify), 'the verify capability carries no key')
    const text = formatCapability(verify)
    assert.equal(text, `batchain:v1:${manifestId}`)
    assert.deepEqual(parseCapability(text), verify)
    assert.deepEqual(toVerifyCapability(verify), verify)
  })

  const bogus: Array<[string, string, RegExp]> = [
    ['empty', '', /start with/],
    ['only whitespace', '   ', /start with/],
    ['wrong prefix', `batchian:r1:${manifestId}:${keyText}`, /start with/],
    ['uppercase prefix', `BATCHAIN:r1:${manifestId}:${keyText}`, /start with/],
    ['unknown kind', `batchain:w1:${manifestId}:${keyText}`, /unknown kind/],
    ['future version', `batchain:r2:${manifestId}:${keyText}`, /unknown kind/],
    ['missing kind', 'batchain', /unknown kind/],
    ['read without key', `batchain:r1:${manifestId}`, /4 colon-separated parts/],
    ['read with empty key', `batchain:r1:${manifestId}:`, /key must be/],
    ['verify with key', `batchain:v1:${manifestId}:${keyText}`, /3 colon-separated parts/],
    ['extra part', `batchain:r1:${manifestId}:${keyText}:x`, /parts/],
    ['trailing colon', `batchain:v1:${manifestId}:`, /parts/],
    ['short id', `batchain:v1:${manifestId.slice(1)}`, /manifest id/],
    ['long id', `batchain:v1:${manifestId}0`, /manifest id/],
    ['uppercase id', `batchain:v1:${manifestId.toUpperCase()}`, /manifest id/],
    ['non-hex id', `batchain:v1:${'g'.repeat(64)}`, /manifest id/],
    ['short key', `batchain:r1:${manifestId}:${keyText.slice(1)}`, /key must be/],
    ['long key', `batchain:r1:${manifestId}:${keyText}A`, /key must be/],
    ['padded key', `batchain:r1:${manifestId}:${key.toString('base64')}`, /key must be/],
    ['standard base64 alphabet', `batchain:r1:${manifestId}:${'+'.repeat(43)}`, /key must be/],
    ['non-canonical key', `batchain:r1:${manifestId}:${keyText.slice(0, 42)}${nonCanonicalLast(keyText)}`, /canonical/],
    ['inner whitespace', `batchain:r1: ${manifestId}:${keyText}`, /manifest id/],
    ['url instead', 'https://example.com/file', /start with/]
  ]

  for (const [name, text, message] of bogus) {
    test(`rejects ${name}`, () => {
      assert.throws(() => parseCapability(text), (err: unknown) => {
        assert.ok(err instanceof InvalidCapabilityError, `expected InvalidCapabilityError, got ${String(err)}`)
        assert.match(err.message, message)
        return true
      })
    })
  }

  test('rejects non-strings', () => {
    assert.throws(() => parseCapability(undefined as unknown as string), InvalidCapabilityError)
    assert.throws(() => parseCapability(42 as unknown as string), InvalidCapabilityError)
  })

  test('format refuses malformed capabilities', () => {
    assert.throws(() => formatCapability({ kind: 'read', manifestId, key: randomBytes(31) }), InvalidCapabilityError)
    assert.throws(() => formatCapability({ kind: 'verify', manifestId: 'abc' as PieceId }), InvalidCapabilityError)
  })
})

/** The last character of 32 base64url bytes carries 2 unused bits; set them to get a second spelling of the same key. */
function nonCanonicalLast (text: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const last = alphabet.indexOf(text[42] as string)
  return alphabet[last | 1] === text[42] ? alphabet[last | 2] as string : alphabet[last | 1] as string
}

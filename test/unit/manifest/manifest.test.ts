import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import { AEAD_TAG_SIZE, LEAF_SIZE, MiB } from '../../../src/core/constants.js'
import { DecryptionError, InvalidArgumentError, InvalidManifestError } from '../../../src/core/errors.js'
import type { PieceId } from '../../../src/core/ids.js'
import { MAX_DATA_SHARDS, MAX_PARITY_SHARDS, shardSizeFor } from '../../../src/erasure/index.js'
import {
  decodeManifest, encodeManifest, MANIFEST_MAX_DATA_SHARDS, MANIFEST_MAX_PARITY_SHARDS, MAX_MANIFEST_SIZE,
  openSealed, sealInfo, type Manifest, type SealedInfo
} from '../../../src/manifest/index.js'

function pieceId (seed: string): PieceId {
  return createHash('sha256').update(seed).digest('hex') as PieceId
}

const readKey = randomBytes(32)
const info: SealedInfo = {
  name: 'holiday photos/ünïcødé 🦇.tar',
  size: 20 * MiB + 5,
  sha256: createHash('sha256').update('file').digest('hex'),
  dataKey: randomBytes(32)
}

/** A consistent 4+2 manifest of a 20 MiB + 5 byte file in 8 MiB segments. */
function sampleManifest (): Manifest {
  const k = 4
  const m = 2
  const segmentSize = 8 * MiB
  const plainSizes = [segmentSize, segmentSize, 4 * MiB + 5]
  return {
    version: 2,
    params: { dataShards: k, parityShards: m, segmentSize, leafSize: LEAF_SIZE, cipher: 'aes-256-gcm', erasure: 'reed-solomon', hash: 'blake3' },
    segments: plainSizes.map((plain, index) => {
      const cipherSize = plain + AEAD_TAG_SIZE
      const shardSize = shardSizeFor(cipherSize, k)
      return {
        index,
        cipherSize,
        shardSize,
        pieces: Array.from({ length: k + m }, (_, p) => ({ id: pieceId(`${index}/${p}`), size: shardSize }))
      }
    }),
    owner: randomBytes(32).toString('hex'),
    createdAt: new Date('2025-01-02T03:04:05.678Z').toISOString(),
    sealed: sealInfo(info, readKey)
  }
}

function bytesOf (value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value))
}

describe('manifest round trip', () => {
  test('encode → decode → open gives back the manifest and the sealed info', () => {
    const manifest = sampleManifest()
    const decoded = decodeManifest(encodeManifest(manifest))
    assert.deepEqual(decoded, manifest)
    const opened = openSealed(decoded, readKey)
    assert.deepEqual(opened, info)
    assert.ok(Buffer.isBuffer(opened.dataKey))
  })

  test('encoding is canonical: key order does not matter, no whitespace', () => {
    const manifest = sampleManifest()
    const shuffled = JSON.parse(JSON.stringify(manifest, Object.keys(manifest).reverse().concat(
      'dataShards', 'parityShards', 'segmentSize', 'leafSize', 'cipher', 'erasure', 'hash', 'pieces', 'shardSize', 'cipherSize', 'index', 'id', 'size'
    ))) as Manifest
    assert.deepEqual(encodeManifest(shuffled), encodeManifest(manifest))
    const text = encodeManifest(manifest).toString('utf8')
    assert.ok(text.startsWith('{"createdAt":'), text.slice(0, 40))
    assert.ok(!/\s/.test(text.replace(/"[^"]*"/g, '')), 'no whitespace outside strings')
    assert.deepEqual(encodeManifest(decodeManifest(encodeManifest(manifest))), encodeManifest(manifest))
  })

  test('an empty file is one empty final segment', () => {
    const pieces = Array.from({ length: 6 }, (_, p) => ({ id: pieceId(`empty/${p}`), size: 8 }))
    const manifest = { ...sampleManifest(), segments: [{ index: 0, cipherSize: AEAD_TAG_SIZE, shardSize: 8, pieces }] }
    assert.deepEqual(decodeManifest(encodeManifest(manifest)), manifest)
  })

  test('a file of exactly one full segment', () => {
    const manifest = sampleManifest()
    manifest.segments = manifest.segments.slice(0, 1)
    assert.deepEqual(decodeManifest(encodeManifest(manifest)), manifest)
  })

  test('k = 1 (copies): identical piece ids are allowed', () => {
    const manifest = sampleManifest()
    manifest.params.dataShards = 1
    manifest.params.parityShards = 2
    manifest.segments = [{ index: 0, cipherSize: 100, shardSize: 104, pieces: [0, 1, 2].map(() => ({ id: pieceId('same'), size: 104 })) }]
    assert.deepEqual(decodeManifest(encodeManifest(manifest)), manifest)
  })

  test('the limits agree with the erasure coder', () => {
    assert.equal(MANIFEST_MAX_DATA_SHARDS, MAX_DATA_SHARDS)
    assert.equal(MANIFEST_MAX_PARITY_SHARDS, MAX_PARITY_SHARDS)
  })
})

describe('invalid manifests are rejected with InvalidManifestError', () => {
  // The mutations edit arbitrary JSON, deliberately outside the Manifest type.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  type Loose = any
  type Mutation = [name: string, mutate: (m: Loose) => unknown, message?: RegExp]
  const mutations: Mutation[] = [
    ['unknown version', m => { m.version = 1 }, /Unsupported manifest version 1.*version 2/],
    ['missing version', m => { delete m.version }, /Unsupported manifest version/],
    ['missing params', m => { delete m.params }, /manifest\.params/],
    ['missing owner', m => { delete m.owner }, /manifest\.owner/],
    ['missing createdAt', m => { delete m.createdAt }, /manifest\.createdAt/],
    ['extra top-level field', m => { m.extra = 1 }, /extra/],
    ['extra piece field', m => { m.segments[0].pieces[0].holder = 'x' }, /segments\[0\]\.pieces\[0\]/],
    ['k = 0', m => { m.params.dataShards = 0 }, /params\.dataShards/],
    ['k too large', m => { m.params.dataShards = 25 }, /params\.dataShards/],
    ['m too large', m => { m.params.parityShards = 7 }, /params\.parityShards/],
    ['fractional k', m => { m.params.dataShards = 4.5 }, /params\.dataShards/],
    ['segment size too small', m => { m.params.segmentSize = 1024 }, /params\.segmentSize/],
    ['segment size too large', m => { m.params.segmentSize = 65 * MiB }, /params\.segmentSize/],
    ['other leaf size', m => { m.params.leafSize = 4096 }, /params\.leafSize/],
    ['other cipher', m => { m.params.cipher = 'aes-128-gcm' }, /params\.cipher/],
    ['other erasure', m => { m.params.erasure = 'copies' }, /params\.erasure/],
    ['wrong piece count', m => { m.segments[1].pieces.pop() }, /segments\[1\]\.pieces must list k \+ m = 6/],
    ['too many pieces', m => { m.segments[1].pieces.push(m.segments[1].pieces[0]) }, /segments\[1\]\.pieces/],
    ['bad piece id', m => { m.segments[0].pieces[3].id = 'zz' }, /segments\[0\]\.pieces\[3\]\.id/],
    ['uppercase piece id', m => { m.segments[0].pieces[3].id = m.segments[0].pieces[3].id.toUpperCase() }, /pieces\[3\]\.id/],
    ['piece size differs from shard size', m => { m.segments[2].pieces[5].size += 8 }, /segments\[2\]\.pieces\[5\]\.size/],
    ['shard size not a multiple of 8', m => { m.segments[2].shardSize += 4; for (const p of m.segments[2].pieces) p.size += 4 }, /segments\[2\]\.shardSize/],
    ['shard size too small for the ciphertext', m => { m.segments[2].cipherSize += 4 * 8 + 1 }, /segments\[2\]\.shardSize is too small/],
    ['shard size larger than needed', m => { m.segments[2].shardSize += 8; for (const p of m.segments[2].pieces) p.size += 8 }, /larger than needed/],
    ['no segments', m => { m.segments = [] }, /manifest\.segments must list at least one segment/],
    ['empty last segment after others', m => { m.segments[2].cipherSize = AEAD_TAG_SIZE; m.segments[2].shardSize = 8; for (const p of m.segments[2].pieces) p.size = 8 }, /segments\[2\]\.cipherSize must be more than/],
    ['cipher size below the tag', m => { m.segments = m.segments.slice(0, 1); m.segments[0].cipherSize = 15; m.segments[0].shardSize = 8; for (const p of m.segments[0].pieces) p.size = 8 }, /segments\[0\]\.cipherSize/],
    ['short segment that is not the last', m => { m.segments[1].cipherSize -= 8; m.segments[1].shardSize -= 0 }, /segments\[1\]\.cipherSize must be segmentSize \+ 16/],
    ['cipher size above segment + tag', m => { m.segments[2].cipherSize = 8 * MiB + AEAD_TAG_SIZE + 1 }, /segments\[2\]\.cipherSize must be at most/],
    ['segments out of order', m => { m.segments.reverse() }, /segments\[0\]\.index must be 0/],
    ['segment index gap', m => { m.segments[2].index = 3 }, /segments\[2\]\.index/],
    ['negative index', m => { m.segments[0].index = -1 }, /segments\[0\]\.index/],
    ['owner not hex', m => { m.owner = 'g'.repeat(64) }, /manifest\.owner/],
    ['owner too short', m => { m.owner = 'ab' }, /manifest\.owner/],
    ['createdAt not ISO', m => { m.createdAt = 'yesterday' }, /manifest\.createdAt/],
    ['sealed not base64url', m => { m.sealed = 'a+b/' }, /manifest\.sealed/],
    ['sealed too short', m => { m.sealed = 'AAAA' }, /manifest\.sealed/],
    ['segments not an array', m => { m.segments = {} }, /manifest\.segments/],
    ['number as string', m => { m.segments[0].cipherSize = String(m.segments[0].cipherSize) }, /segments\[0\]\.cipherSize/],
    ['top level is an array', () => [], /must be a JSON object/],
    ['top level is null', () => null, /must be a JSON object/]
  ]

  for (const [name, mutate, message] of mutations) {
    test(name, () => {
      const manifest: Loose = structuredClone(sampleManifest())
      const replaced = mutate(manifest)
      const value = replaced === undefined ? manifest : replaced
      assert.throws(() => decodeManifest(bytesOf(value)), (err: unknown) => {
        assert.ok(err instanceof InvalidManifestError, `expected InvalidManifestError, got ${String(err)}`)
        if (message !== undefined) assert.match(err.message, message)
        return true
      })
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        assert.throws(() => encodeManifest(value as Manifest), InvalidManifestError, 'encode validates too')
      }
    })
  }

  test('not JSON', () => {
    assert.throws(() => decodeManifest(Buffer.from('{"version":2,')), /not JSON/)
    assert.throws(() => decodeManifest(Buffer.alloc(0)), InvalidManifestError)
  })

  test('not UTF-8', () => {
    assert.throws(() => decodeManifest(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), /UTF-8/)
  })

  test('huge input is refused before parsing', () => {
    const huge = Buffer.alloc(MAX_MANIFEST_SIZE + 1, 0x20)
    assert.throws(() => decodeManifest(huge), (err: unknown) => err instanceof InvalidManifestError && /more than/.test(err.message))
  })
})

describe('sealed part', () => {
  test('wrong read key → DecryptionError', () => {
    assert.throws(() => openSealed(sampleManifest(), randomBytes(32)), DecryptionError)
  })

  test('any flipped byte of the sealed data → DecryptionError', () => {
    const manifest = sampleManifest()
    const raw = Buffer.from(manifest.sealed, 'base64url')
    for (let i = 0; i < raw.length; i++) {
      const tampered = Buffer.from(raw)
      tampered[i] = (tampered[i] as number) ^ 0x01
      assert.throws(() => openSealed({ ...manifest, sealed: tampered.toString('base64url') }, readKey), DecryptionError, `byte ${i}`)
    }
  })

  test('sealing twice gives different ciphertexts (random nonce), both open', () => {
    const a = sealInfo(info, readKey)
    const b = sealInfo(info, readKey)
    assert.notEqual(a, b)
    const manifest = sampleManifest()
    assert.deepEqual(openSealed({ ...manifest, sealed: a }, readKey), openSealed({ ...manifest, sealed: b }, readKey))
  })

  test('the public part does not contain the private fields', () => {
    const text = encodeManifest(sampleManifest()).toString('utf8')
    assert.ok(!text.includes('holiday'))
    assert.ok(!text.includes(info.sha256))
    assert.ok(!text.includes(info.dataKey.toString('base64url')))
    assert.ok(!text.includes(String(info.size)))
  })

  test('bad arguments to sealInfo are InvalidArgumentErrors', () => {
    assert.throws(() => sealInfo(info, randomBytes(16)), InvalidArgumentError)
    assert.throws(() => sealInfo({ ...info, dataKey: randomBytes(31) }, readKey), InvalidArgumentError)
    assert.throws(() => sealInfo({ ...info, sha256: 'abc' }, readKey), InvalidArgumentError)
    assert.throws(() => sealInfo({ ...info, size: -1 }, readKey), InvalidArgumentError)
    assert.throws(() => sealInfo({ ...info, name: 'x'.repeat(5000) }, readKey), InvalidArgumentError)
  })

  test('malformed sealed JSON under the right key → InvalidManifestError', async () => {
    // Build a well-authenticated but malformed payload with the same construction.
    const { createCipheriv, hkdfSync } = await import('node:crypto')
    const key = Buffer.from(hkdfSync('sha256', readKey, Buffer.alloc(0), 'batchain manifest seal v1', 32))
    const seal = (plain: string): string => {
      const nonce = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', key, nonce)
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
      return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url')
    }
    const manifest = sampleManifest()
    assert.throws(() => openSealed({ ...manifest, sealed: seal('not json') }, readKey), InvalidManifestError)
    assert.throws(() => openSealed({ ...manifest, sealed: seal('{"name":"x"}') }, readKey), InvalidManifestError)
    assert.throws(() => openSealed({ ...manifest, sealed: seal(JSON.stringify({ name: 'x', size: 1, sha256: 'a'.repeat(64), dataKey: 'short' })) }, readKey), InvalidManifestError)
    // And the construction matches: a well-formed payload opens.
    const good = JSON.stringify({ name: 'x', size: 1, sha256: 'a'.repeat(64), dataKey: Buffer.alloc(32, 7).toString('base64url') })
    assert.deepEqual(openSealed({ ...manifest, sealed: seal(good) }, readKey), { name: 'x', size: 1, sha256: 'a'.repeat(64), dataKey: Buffer.alloc(32, 7) })
  })
})

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { PieceId } from '../../../src/core/ids.js'
import { generateIdentity } from '../../../src/crypto/keys.js'
import { checkPointer, signPointer } from '../../../src/crypto/pointer.js'
import { previousPlacements } from '../../../src/jobs/durability-jobs.js'

/**
 * previousPlacements reads what an earlier run of a repair-segment job saved in the job's progress
 * ({ placed: [...] }). Progress is data from Redis: anything malformed is ignored as a whole, and a
 * pointer that does not check out is dropped while its placement is kept.
 */

const PIECE = 'c'.repeat(64)
const PIECE2 = 'd'.repeat(64)
const NODE = 'e'.repeat(64)
const NODE2 = 'f'.repeat(64)

const placement = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  shard: 2, pieceId: PIECE, node: { host: '10.1.2.3', port: 4100, nodeId: NODE }, ...over
})

describe('previousPlacements', () => {
  test('valid progress is parsed, in order', () => {
    const progress = {
      placed: [
        placement(),
        placement({ shard: 0, pieceId: PIECE2, node: { host: 'node-b.example', port: 1, nodeId: NODE2 } })
      ]
    }
    assert.deepEqual(previousPlacements(progress), [
      { shard: 2, pieceId: PIECE, node: { host: '10.1.2.3', port: 4100, nodeId: NODE } },
      { shard: 0, pieceId: PIECE2, node: { host: 'node-b.example', port: 1, nodeId: NODE2 } }
    ])
    assert.deepEqual(previousPlacements({ placed: [] }), [])
  })

  test('placements of a multi-segment job carry their segment', () => {
    const out = previousPlacements({ placed: [placement({ segment: 5 }), placement({ segment: 0, shard: 1 }), placement({ shard: 3 })] })
    assert.deepEqual(out.map(p => [p.segment, p.shard]), [[5, 2], [0, 1], [undefined, 3]])
    assert.equal('segment' in (out[2] as object), false)
    for (const segment of [-1, 1.5, '5', null, (1 << 24) + 1]) {
      assert.deepEqual(previousPlacements({ placed: [placement({ segment })] }), [], JSON.stringify(segment))
    }
  })

  test('boundaries: shard 0 and 1024, port 1 and 65535, a 255-character host, 1024 placements', () => {
    const edges = [
      placement({ shard: 0 }),
      placement({ shard: 1024 }),
      placement({ node: { host: 'h'.repeat(255), port: 65535, nodeId: NODE } })
    ]
    const out = previousPlacements({ placed: edges })
    assert.deepEqual(out.map(p => [p.shard, p.node.port, p.node.host.length]), [[0, 4100, 8], [1024, 4100, 8], [2, 65535, 255]])
    assert.equal(previousPlacements({ placed: Array.from({ length: 1024 }, (_, i) => placement({ shard: i })) }).length, 1024)
  })

  test('unknown fields are dropped from what is returned', () => {
    const out = previousPlacements({ placed: [placement({ extra: 'x', node: { host: 'h', port: 2, nodeId: NODE, zone: 'z' } })], other: 1 })
    assert.deepEqual(out, [{ shard: 2, pieceId: PIECE, node: { host: 'h', port: 2, nodeId: NODE } }])
  })

  test('progress that is not an object of the right shape gives []', () => {
    for (const progress of [undefined, null, 0, 1, 42, '', 'placed', true, [], [placement()], {}, { placed: null }, { placed: 'x' }, { placed: {} }, { placed: placement() }, { Placed: [placement()] }]) {
      assert.deepEqual(previousPlacements(progress), [], JSON.stringify(progress))
    }
  })

  test('one malformed placement makes the whole progress ignored', () => {
    const bad: Array<Record<string, unknown>> = [
      placement({ shard: -1 }),
      placement({ shard: 1025 }),
      placement({ shard: 1.5 }),
      placement({ shard: '2' }),
      placement({ shard: Number.NaN }),
      placement({ shard: undefined }),
      placement({ pieceId: PIECE.toUpperCase() }),
      placement({ pieceId: 'c'.repeat(63) }),
      placement({ pieceId: 'c'.repeat(65) }),
      placement({ pieceId: `${'c'.repeat(60)}../x` }),
      placement({ pieceId: 'z'.repeat(64) }),
      placement({ pieceId: 12 }),
      placement({ node: null }),
      placement({ node: 'h:1' }),
      placement({ node: { host: '', port: 4100, nodeId: NODE } }),
      placement({ node: { host: 'h'.repeat(256), port: 4100, nodeId: NODE } }),
      placement({ node: { host: 'h', port: 0, nodeId: NODE } }),
      placement({ node: { host: 'h', port: 65536, nodeId: NODE } }),
      placement({ node: { host: 'h', port: 80.5, nodeId: NODE } }),
      placement({ node: { host: 'h', port: '80', nodeId: NODE } }),
      placement({ node: { host: 'h', port: 80, nodeId: 'g'.repeat(64) } }),
      placement({ node: { host: 'h', port: 80, nodeId: NODE.slice(1) } }),
      placement({ node: { host: 'h', port: 80 } })
    ]
    for (const p of bad) {
      assert.deepEqual(previousPlacements({ placed: [placement(), p] }), [], JSON.stringify(p))
    }
    assert.deepEqual(previousPlacements({ placed: [placement(), 0] }), [])
    assert.deepEqual(previousPlacements({ placed: [null] }), [])
    assert.deepEqual(previousPlacements({ placed: Array.from({ length: 1025 }, () => placement()) }), [], 'more than 1024 placements')
  })

  test('a valid signed pointer is kept with its placement', () => {
    const identity = generateIdentity()
    const pointer = signPointer(identity, PIECE as PieceId, { ttlMs: 3600_000 })
    assert.equal(checkPointer(pointer).ok, true)
    const out = previousPlacements({ placed: [placement({ node: { host: 'h', port: 9, nodeId: identity.id }, pointer }), placement({ shard: 3 })] })
    assert.equal(out.length, 2)
    assert.deepEqual(out[0], { shard: 2, pieceId: PIECE, node: { host: 'h', port: 9, nodeId: identity.id }, pointer })
    assert.equal('pointer' in (out[1] as object), false)
  })

  test('a pointer that fails checkPointer is dropped, the placement kept', () => {
    const identity = generateIdentity()
    const good = signPointer(identity, PIECE as PieceId, { ttlMs: 3600_000 })
    const expired = signPointer(identity, PIECE as PieceId, { ttlMs: 1000, now: Date.now() - 60_000 })
    const forged = { ...good, signature: signPointer(generateIdentity(), PIECE as PieceId, { ttlMs: 3600_000 }).signature }
    const otherKey = { ...good, publicKey: generateIdentity().publicKey.toString('base64url') }
    const tooLong = signPointer(identity, PIECE as PieceId, { ttlMs: 1 })
    const pointers: unknown[] = [
      null, 0, 'pointer', [], {}, { pieceId: PIECE },
      expired,
      forged,
      otherKey,
      { ...good, expiresAt: good.expiresAt + 1 },
      { ...good, pieceId: PIECE2 },
      { ...tooLong, expiresAt: tooLong.issuedAt + 8 * 24 * 3600_000 },
      { ...good, issuedAt: String(good.issuedAt) }
    ]
    for (const pointer of pointers) {
      assert.equal(checkPointer(pointer).ok, false, JSON.stringify(pointer))
      const out = previousPlacements({ placed: [placement({ pointer })] })
      assert.deepEqual(out, [{ shard: 2, pieceId: PIECE, node: { host: '10.1.2.3', port: 4100, nodeId: NODE } }], JSON.stringify(pointer))
      assert.equal('pointer' in (out[0] as object), false)
    }
  })

  test('valid and invalid pointers side by side: each placement judged on its own', () => {
    const a = generateIdentity()
    const b = generateIdentity()
    const pa = signPointer(a, PIECE as PieceId, { ttlMs: 60_000 })
    const pb = signPointer(b, PIECE2 as PieceId, { ttlMs: 60_000 })
    const out = previousPlacements({
      placed: [
        placement({ shard: 0, node: { host: 'a', port: 1, nodeId: a.id }, pointer: pa }),
        placement({ shard: 1, pieceId: PIECE2, node: { host: 'b', port: 2, nodeId: b.id }, pointer: { ...pb, signature: pa.signature } }),
        placement({ shard: 2, pieceId: PIECE2, node: { host: 'b', port: 2, nodeId: b.id }, pointer: pb })
      ]
    })
    assert.deepEqual(out.map(p => [p.shard, p.pointer?.holder ?? null]), [[0, a.id], [1, null], [2, b.id]])
  })
})

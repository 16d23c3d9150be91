import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { StoreError } from '../../../src/core/errors.js'
import type { PieceId } from '../../../src/core/ids.js'
import { buildProof, hashLeaf, leafCount, rootFromLeafHashes } from '../../../src/crypto/merkle.js'
import { decodeMeta, encodeMeta, type StoredMeta } from '../../../src/store/meta-format.js'
import { MerkleTree } from '../../../src/crypto/merkle.js'

const id = 'ab'.repeat(32) as PieceId

function sampleMeta (size: number, owners = 2): StoredMeta {
  return {
    size,
    storedAt: 1_700_000_000_123,
    leafSize: 16384,
    owners: Array.from({ length: owners }, () => randomBytes(32).toString('hex')),
    leafHashes: Array.from({ length: leafCount(size) }, () => randomBytes(32))
  }
}

describe('piece metadata format', () => {
  it('round-trips every field', () => {
    for (const size of [0, 1, 16384, 16385, 64 * 1024 * 1024]) {
      const meta = sampleMeta(size)
      assert.deepEqual(decodeMeta(id, encodeMeta(meta), 16384), meta)
    }
  })

  it('rejects every kind of damage with StoreError', () => {
    const good = encodeMeta(sampleMeta(40_000))
    const damaged: Array<[string, Buffer]> = [
      ['truncated', good.subarray(0, good.length - 1)],
      ['empty', Buffer.alloc(0)],
      ['extended', Buffer.concat([good, Buffer.alloc(1)])]
    ]
    for (const at of [0, 4, 8, 20, 24, 28, 32, 40, good.length - 40, good.length - 1]) {
      const copy = Buffer.from(good)
      copy[at]! ^= 0x10
      damaged.push([`bit flipped at ${at}`, copy])
    }
    for (const [what, data] of damaged) assert.throws(() => decodeMeta(id, data, 16384), StoreError, what)
    assert.throws(() => decodeMeta(id, good, 1024), StoreError, 'another leaf size')
  })
})

describe('MerkleTree', () => {
  it('gives the same root and proofs as merkle.ts for every tree shape up to 40 leaves', () => {
    for (let count = 1; count <= 40; count++) {
      const leaves = Array.from({ length: count }, (_, i) => hashLeaf(Buffer.from([i, count])))
      const tree = new MerkleTree(leaves)
      assert.ok(tree.root.equals(rootFromLeafHashes(leaves)), `root of ${count}`)
      for (let i = 0; i < count; i++) assert.deepEqual(tree.proof(i), buildProof(leaves, i), `proof ${i} of ${count}`)
    }
  })
})

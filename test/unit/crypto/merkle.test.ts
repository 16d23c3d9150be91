import assert from 'node:assert/strict'
import { randomBytes, randomInt } from 'node:crypto'
import { describe, test } from 'node:test'
import { LEAF_SIZE } from '../../../src/core/constants.js'
import { isPieceId } from '../../../src/core/ids.js'
import { buildProof, hashLeaf, leafCount, leafLength, MerkleHasher, pieceIdOf, rootFromLeafHashes, verifyProof } from '../../../src/crypto/merkle.js'

const LEAF = 16

function leavesOf (data: Buffer, leafSize = LEAF): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; i < leafCount(data.length, leafSize); i++) out.push(data.subarray(i * leafSize, i * leafSize + leafLength(data.length, i, leafSize)))
  return out
}

describe('merkle', () => {
  test('every leaf proof verifies for leaf counts 1..40 (full and partial last leaf)', () => {
    for (let count = 1; count <= 40; count++) {
      for (const tail of [LEAF, 5]) {
        const data = randomBytes((count - 1) * LEAF + tail)
        const { root, leafHashes } = new MerkleHasher(LEAF).update(data).digest()
        assert.equal(leafHashes.length, count)
        assert.deepEqual(root, rootFromLeafHashes(leafHashes))
        const leaves = leavesOf(data)
        for (let i = 0; i < count; i++) {
          const proof = buildProof(leafHashes, i)
          assert.ok(proof.length <= Math.ceil(Math.log2(count)))
          assert.ok(verifyProof(root, i, count, leaves[i] as Buffer, proof), `count ${count} leaf ${i}`)
        }
      }
    }
  })

  test('streaming with random chunk sizes equals one-shot', () => {
    for (let round = 0; round < 30; round++) {
      const data = randomBytes(randomInt(0, 40 * LEAF))
      const oneShot = new MerkleHasher(LEAF).update(data).digest()
      const streaming = new MerkleHasher(LEAF)
      for (let offset = 0; offset < data.length;) {
        const n = randomInt(0, 3 * LEAF)
        const chunk = Buffer.from(data.subarray(offset, offset + n))
        streaming.update(chunk)
        chunk.fill(0xee) // the hasher must have copied what it kept
        offset += n
      }
      assert.equal(streaming.size, data.length)
      const streamed = streaming.digest()
      assert.deepEqual(streamed.root, oneShot.root)
      assert.deepEqual(streamed.leafHashes, oneShot.leafHashes)
    }
  })

  test('tampered leaf, proof, index or count fails', () => {
    const count = 13
    const data = randomBytes(count * LEAF)
    const { root, leafHashes } = new MerkleHasher(LEAF).update(data).digest()
    const leaves = leavesOf(data)
    for (let i = 0; i < count; i++) {
      const leaf = leaves[i] as Buffer
      const proof = buildProof(leafHashes, i)
      assert.ok(verifyProof(root, i, count, leaf, proof))
      const badLeaf = Buffer.from(leaf)
      badLeaf[0] = (badLeaf[0] as number) ^ 1
      assert.equal(verifyProof(root, i, count, badLeaf, proof), false, 'leaf')
      for (let p = 0; p < proof.length; p++) {
        const badProof = proof.map(h => Buffer.from(h))
        ;(badProof[p] as Buffer)[31] = ((badProof[p] as Buffer)[31] as number) ^ 1
        assert.equal(verifyProof(root, i, count, leaf, badProof), false, 'proof hash')
      }
      assert.equal(verifyProof(root, i, count, leaf, proof.slice(0, -1)), false, 'short proof')
      assert.equal(verifyProof(root, i, count, leaf, [...proof, proof[0] as Buffer]), false, 'long proof')
      assert.equal(verifyProof(root, (i + 1) % count, count, leaf, proof), false, 'index')
      // The root does not commit to the leaf count (the verifier takes it from the
      // piece size); a wrong count is caught where it changes the path's shape,
      // as it does for the last leaf of an odd level.
      if (i === count - 1) assert.equal(verifyProof(root, i, count + 1, leaf, proof), false, 'count + 1')
      assert.equal(verifyProof(root, i, 1, leaf, proof), false, 'count 1')
      assert.equal(verifyProof(root, i, count, leaf, [Buffer.alloc(31), ...proof.slice(1)]), false, 'short hash')
      const badRoot = Buffer.from(root)
      badRoot[0] = (badRoot[0] as number) ^ 1
      assert.equal(verifyProof(badRoot, i, count, leaf, proof), false, 'root')
    }
    assert.equal(verifyProof(root, -1, count, leaves[0] as Buffer, []), false)
    assert.equal(verifyProof(root, count, count, leaves[0] as Buffer, []), false)
    assert.equal(verifyProof(root, 0.5, count, leaves[0] as Buffer, []), false)
  })

  test('a leaf cannot pose as an inner node (domain separation)', () => {
    const data = randomBytes(4 * LEAF)
    const { root, leafHashes } = new MerkleHasher(LEAF).update(data).digest()
    // Claim a one-leaf tree whose leaf is the concatenation of two child hashes.
    const forged = Buffer.concat([leafHashes[0] as Buffer, leafHashes[1] as Buffer])
    assert.notDeepEqual(hashLeaf(forged), root)
    assert.equal(verifyProof(root, 0, 2, forged, [Buffer.alloc(32)]), false)
  })

  test('an empty piece has one empty leaf', () => {
    const { root, leafHashes } = new MerkleHasher(LEAF).digest()
    assert.equal(leafHashes.length, 1)
    assert.deepEqual(root, hashLeaf(Buffer.alloc(0)))
    assert.ok(verifyProof(root, 0, 1, Buffer.alloc(0), []))
    assert.equal(verifyProof(root, 0, 1, Buffer.alloc(1), []), false)
    assert.equal(leafCount(0), 1)
    assert.ok(isPieceId(pieceIdOf(Buffer.alloc(0))))
  })

  test('pieceIdOf uses 16 KiB leaves by default and depends on every byte', () => {
    const data = randomBytes(3 * LEAF_SIZE + 100)
    const id = pieceIdOf(data)
    assert.ok(isPieceId(id))
    assert.equal(id, new MerkleHasher(LEAF_SIZE).update(data).digest().root.toString('hex'))
    assert.notEqual(id, pieceIdOf(data, LEAF))
    for (const offset of [0, LEAF_SIZE, data.length - 1]) {
      const changed = Buffer.from(data)
      changed[offset] = (changed[offset] as number) ^ 1
      assert.notEqual(pieceIdOf(changed), id)
    }
  })
})

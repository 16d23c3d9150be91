import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import type { NodeId, PieceId } from '../../../src/core/ids.js'
import type { Holder, PieceLocator } from '../../../src/client/locator.js'
import { SegmentHolders } from '../../../src/client/segment-holders.js'
import type { SegmentLayout } from '../../../src/manifest/index.js'

/** SegmentHolders against an in-process locator that records what it was asked (pure logic). */
function layouts (segments: number, pieces: number): SegmentLayout[] {
  return Array.from({ length: segments }, (_, index) => ({
    index,
    cipherSize: 100,
    shardSize: 25,
    pieces: Array.from({ length: pieces }, () => ({ id: randomBytes(32).toString('hex') as PieceId, size: 25, grant: '' }))
  }))
}

function recordingLocator (): PieceLocator & { asked: PieceId[][] } {
  const asked: PieceId[][] = []
  return {
    asked,
    async locate (ids) {
      asked.push([...ids])
      const holder: Holder = { host: '127.0.0.1', port: 1, nodeId: 'a'.repeat(64) as NodeId }
      return new Map(ids.map(id => [id, [holder]]))
    }
  }
}

describe('SegmentHolders', () => {
  test('with `first`, locates only the first pieces of each segment, batches ahead of the one in use', async () => {
    const segs = layouts(40, 6)
    const locator = recordingLocator()
    const holders = new SegmentHolders(segs, locator, {}, { first: 5, batchSegments: 8, lookahead: 2 })
    const got = await holders.get(0)
    assert.deepEqual([...got.keys()], segs.slice(0, 8).flatMap(s => s.pieces.slice(0, 5).map(p => p.id)))
    // Batches 0, 1 and 2 started; nothing beyond the lookahead.
    assert.equal(locator.asked.length, 3)
    assert.ok(locator.asked.every(ids => ids.length === 8 * 5))
    assert.ok(!locator.asked.flat().includes(segs[0]!.pieces[5]!.id), 'parity beyond `first` not looked up')
  })

  test('all() looks up the rest of one segment only, and returns every piece', async () => {
    const segs = layouts(10, 6)
    const locator = recordingLocator()
    const holders = new SegmentHolders(segs, locator, {}, { first: 4, batchSegments: 4, lookahead: 0 })
    const all = await holders.all(2)
    const seg = segs[2]!
    for (const p of seg.pieces) assert.equal(all.get(p.id)?.length, 1)
    assert.deepEqual(locator.asked.at(-1), seg.pieces.slice(4).map(p => p.id))
  })

  test('without `first`, every piece is located up front', async () => {
    const segs = layouts(3, 6)
    const locator = recordingLocator()
    const holders = new SegmentHolders(segs, locator, {})
    const got = await holders.get(1)
    assert.equal(got.size, 18)
    const before = locator.asked.length
    await holders.all(1)
    assert.equal(locator.asked.length, before, 'nothing left to look up')
  })
})

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { PIECE_STATES, goodHolders, segmentHealth, trustEveryHolder, type Holder, type HolderJudge, type PieceState } from '../../../src/client/index.js'
import type { NodeId, PieceId } from '../../../src/core/ids.js'
import type { SegmentLayout } from '../../../src/manifest/manifest.js'

/**
 * Segment health over a hand-built layout: fake piece and node ids, holders as a locator would
 * return them, and a judge that says what each (piece, node) is.
 */

const pieceId = (n: number): PieceId => `${n.toString(16).padStart(2, '0')}`.padEnd(64, 'a') as PieceId
const nodeId = (n: number): NodeId => `${n.toString(16).padStart(2, '0')}`.padEnd(64, 'b') as NodeId
const holder = (n: number, host = `10.0.0.${n}`): Holder => ({ host, port: 4000 + n, nodeId: nodeId(n) })

function layout (pieces: number, index = 3): SegmentLayout {
  return { index, cipherSize: 1000, shardSize: 256, pieces: Array.from({ length: pieces }, (_, i) => ({ id: pieceId(i), size: 256 })) }
}

/** Judges by node: `states[n]` is what node n is (good when not listed). */
function byNode (states: Record<number, Exclude<PieceState, 'missing'>>): HolderJudge {
  return (_piece, h) => {
    const n = Number.parseInt(h.nodeId.slice(0, 2), 16)
    return states[n] ?? 'good'
  }
}

describe('segmentHealth', () => {
  test('states are ordered best first: good, untrusted, lost, bad, missing', () => {
    assert.deepEqual([...PIECE_STATES], ['good', 'untrusted', 'lost', 'bad', 'missing'])
  })

  test('a piece takes the best state among its holders, whatever their order', () => {
    const judge = byNode({ 1: 'bad', 2: 'lost', 3: 'untrusted', 4: 'good', 5: 'bad', 6: 'lost', 7: 'untrusted', 8: 'bad' })
    const holders = new Map<PieceId, Holder[]>([
      [pieceId(0), [holder(1), holder(2), holder(3), holder(4)]], // good last
      [pieceId(1), [holder(5), holder(6), holder(7)]], // untrusted
      [pieceId(2), [holder(8), holder(6)]], // lost
      [pieceId(3), [holder(1), holder(8)]], // bad only
      [pieceId(4), [holder(3), holder(4), holder(2)]] // good in the middle
    ])
    const report = segmentHealth(layout(6), holders, judge)
    assert.deepEqual(report.pieces.map(p => p.state), ['good', 'untrusted', 'lost', 'bad', 'good', 'missing'])
    assert.equal(report.good, 2)
    assert.equal(report.total, 6)
    assert.equal(report.index, 3)
    assert.deepEqual(report.pieces.map(p => p.shard), [0, 1, 2, 3, 4, 5])
    assert.deepEqual(report.pieces.map(p => p.id), Array.from({ length: 6 }, (_, i) => pieceId(i)))
  })

  test('the best holder\'s address and node id are reported; every holder is listed, best first', () => {
    const judge = byNode({ 1: 'bad', 2: 'lost', 3: 'untrusted' })
    const holders = new Map<PieceId, Holder[]>([
      [pieceId(0), [holder(1), holder(2), holder(4), holder(3)]],
      [pieceId(1), [holder(1), holder(2)]]
    ])
    const [p0, p1] = segmentHealth(layout(2), holders, judge).pieces
    assert.equal(p0?.node, '10.0.0.4:4004')
    assert.equal(p0?.nodeId, nodeId(4))
    assert.deepEqual(p0?.holders, [
      { node: '10.0.0.4:4004', nodeId: nodeId(4), state: 'good' },
      { node: '10.0.0.3:4003', nodeId: nodeId(3), state: 'untrusted' },
      { node: '10.0.0.2:4002', nodeId: nodeId(2), state: 'lost' },
      { node: '10.0.0.1:4001', nodeId: nodeId(1), state: 'bad' }
    ])
    assert.equal(p1?.state, 'lost')
    assert.equal(p1?.node, '10.0.0.2:4002')
    assert.equal(p1?.nodeId, nodeId(2))
  })

  test('between equally good holders the first one found is reported', () => {
    const holders = new Map<PieceId, Holder[]>([[pieceId(0), [holder(7), holder(5), holder(6)]]])
    const [p] = segmentHealth(layout(1), holders, trustEveryHolder).pieces
    assert.equal(p?.nodeId, nodeId(7))
    assert.deepEqual(p?.holders.map(h => h.nodeId), [nodeId(7), nodeId(5), nodeId(6)])
  })

  test('IPv6 holders are reported as [host]:port', () => {
    const holders = new Map<PieceId, Holder[]>([[pieceId(0), [holder(1, '::1')]]])
    const [p] = segmentHealth(layout(1), holders, trustEveryHolder).pieces
    assert.equal(p?.node, '[::1]:4001')
  })

  test('a piece held twice counts once: good ≤ total', () => {
    const holders = new Map<PieceId, Holder[]>([
      [pieceId(0), [holder(1), holder(2)]],
      [pieceId(1), [holder(3), holder(4), holder(5)]],
      [pieceId(2), [holder(6)]]
    ])
    const report = segmentHealth(layout(3), holders, trustEveryHolder)
    assert.equal(report.good, 3)
    assert.equal(report.total, 3)
    assert.equal(report.pieces[1]?.holders.length, 3)
    // One node holding two pieces of the segment: each piece counts.
    const shared = new Map<PieceId, Holder[]>([[pieceId(0), [holder(1)]], [pieceId(1), [holder(1)]]])
    assert.equal(segmentHealth(layout(4), shared, trustEveryHolder).good, 2)
  })

  test('missing pieces: no entry, or an empty list', () => {
    const holders = new Map<PieceId, Holder[]>([[pieceId(1), []], [pieceId(2), [holder(2)]]])
    const report = segmentHealth(layout(3), holders, trustEveryHolder)
    assert.deepEqual(report.pieces.map(p => p.state), ['missing', 'missing', 'good'])
    assert.deepEqual(report.pieces[0], { shard: 0, id: pieceId(0), state: 'missing', node: null, nodeId: null, holders: [] })
    assert.deepEqual(report.pieces[1], { shard: 1, id: pieceId(1), state: 'missing', node: null, nodeId: null, holders: [] })
    assert.equal(report.good, 1)
    const none = segmentHealth(layout(4, 0), new Map(), trustEveryHolder)
    assert.equal(none.good, 0)
    assert.equal(none.total, 4)
    assert.equal(none.index, 0)
  })

  test('holders of pieces outside the layout are ignored', () => {
    const holders = new Map<PieceId, Holder[]>([[pieceId(9), [holder(1)]], [pieceId(0), [holder(2)]]])
    const report = segmentHealth(layout(2), holders, trustEveryHolder)
    assert.equal(report.good, 1)
    assert.equal(report.total, 2)
  })

  test('the judge is asked with the piece id and the holder', () => {
    const calls: string[] = []
    const judge: HolderJudge = (piece, h) => {
      calls.push(`${piece.slice(0, 2)}@${h.nodeId.slice(0, 2)}`)
      return piece === pieceId(0) && h.nodeId === nodeId(2) ? 'bad' : 'good'
    }
    const holders = new Map<PieceId, Holder[]>([[pieceId(0), [holder(2), holder(3)]], [pieceId(1), [holder(2)]]])
    const report = segmentHealth(layout(2), holders, judge)
    assert.deepEqual(calls.sort(), ['00@02', '00@03', '01@02'])
    assert.deepEqual(report.pieces[0]?.holders.map(h => h.state), ['good', 'bad'])
    assert.equal(report.pieces[0]?.nodeId, nodeId(3))
    assert.equal(report.pieces[1]?.state, 'good')
  })
})

describe('goodHolders', () => {
  test('only the holders the judge counts as good, every piece present, order kept', () => {
    const judge = byNode({ 1: 'bad', 2: 'lost', 3: 'untrusted' })
    const holders = new Map<PieceId, Holder[]>([
      [pieceId(0), [holder(5), holder(1), holder(4)]],
      [pieceId(1), [holder(2), holder(3)]],
      [pieceId(9), [holder(6)]]
    ])
    const good = goodHolders(layout(3), holders, judge)
    assert.deepEqual([...good.keys()], [pieceId(0), pieceId(1), pieceId(2)])
    assert.deepEqual(good.get(pieceId(0)), [holder(5), holder(4)])
    assert.deepEqual(good.get(pieceId(1)), [])
    assert.deepEqual(good.get(pieceId(2)), [])
  })

  test('trustEveryHolder keeps every holder', () => {
    const holders = new Map<PieceId, Holder[]>([[pieceId(0), [holder(1), holder(2)]]])
    assert.deepEqual(goodHolders(layout(1), holders, trustEveryHolder).get(pieceId(0)), [holder(1), holder(2)])
    assert.equal(trustEveryHolder(pieceId(0), holder(1)), 'good')
  })
})

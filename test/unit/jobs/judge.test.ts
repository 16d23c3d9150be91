import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Holder } from '../../../src/client/index.js'
import type { NodeId, PieceId } from '../../../src/core/ids.js'
import { excludedNodes, registryJudge } from '../../../src/jobs/judge.js'
import { nodeRecordSchema, withFacts, type NodeRecord, type NodeState } from '../../../src/jobs/node-state.js'

const id = (c: string): string => c.repeat(64)
const P = id('1') as PieceId
const Q = id('2') as PieceId
const policy = { threshold: 0.6 }

/** A registered node in a given state with a given reputation (alpha 1, beta 0: trusted). */
function nodeRecord (c: string, state: NodeState, rep: { alpha: number, beta: number } = { alpha: 1, beta: 0 }): NodeRecord {
  const r: NodeRecord = { ...withFacts(undefined, { nodeId: id(c), piece: { host: '10.0.0.1', port: 4000 } }, 0, rep), state }
  if (state === 'offline' || state === 'lost') r.offlineSince = 10
  if (state === 'lost') r.lostSince = 20
  assert.equal(nodeRecordSchema.safeParse(r).success, true)
  return r
}

const holder = (c: string): Holder => ({ host: '10.0.0.9', port: 4100, nodeId: id(c) as NodeId })
const registry = (...records: NodeRecord[]): Map<string, NodeRecord> => new Map(records.map(r => [r.nodeId, r]))

// Reputations: 1/3 ≈ 0.33 (untrusted at 0.6), 3/4 = 0.75 (trusted), exactly 0.6.
const LOW = { alpha: 1, beta: 2 }
const HIGH = { alpha: 3, beta: 1 }
const EDGE = { alpha: 3, beta: 2 }

describe('registryJudge', () => {
  test('an online, trusted node is good', () => {
    const judge = registryJudge(registry(nodeRecord('a', 'online', HIGH)), { badHolders: {} }, policy)
    assert.equal(judge(P, holder('a')), 'good')
  })

  test('bad beats everything: a holder that failed an audit of this piece is bad, of other pieces not', () => {
    const nodes = registry(nodeRecord('a', 'online', HIGH), nodeRecord('b', 'lost'), nodeRecord('c', 'online', LOW), nodeRecord('d', 'offline'))
    const file = { badHolders: { [P]: [id('a'), id('b'), id('c'), id('d'), id('e')] } }
    const judge = registryJudge(nodes, file, policy)
    assert.equal(judge(P, holder('a')), 'bad')
    assert.equal(judge(P, holder('b')), 'bad', 'bad before lost')
    assert.equal(judge(P, holder('c')), 'bad', 'bad before untrusted')
    assert.equal(judge(P, holder('d')), 'bad', 'bad before offline-good')
    assert.equal(judge(P, holder('e')), 'bad', 'bad even when not registered')
    assert.equal(judge(Q, holder('a')), 'good')
    assert.equal(judge(Q, holder('b')), 'lost')
    assert.equal(judge(Q, holder('c')), 'untrusted')
    assert.equal(judge(Q, holder('e')), 'good')
  })

  test('without a file record no holder is bad', () => {
    const judge = registryJudge(registry(nodeRecord('a', 'online')), undefined, policy)
    assert.equal(judge(P, holder('a')), 'good')
  })

  test('a lost node is lost, whatever its reputation (lost before untrusted)', () => {
    const judge = registryJudge(registry(nodeRecord('a', 'lost', HIGH), nodeRecord('b', 'lost', LOW)), { badHolders: {} }, policy)
    assert.equal(judge(P, holder('a')), 'lost')
    assert.equal(judge(P, holder('b')), 'lost')
  })

  test('a node under the reputation threshold is untrusted; at the threshold it is good', () => {
    const nodes = registry(nodeRecord('a', 'online', LOW), nodeRecord('b', 'online', EDGE), nodeRecord('c', 'offline', LOW), nodeRecord('d', 'unknown', LOW))
    const judge = registryJudge(nodes, { badHolders: {} }, policy)
    assert.equal(judge(P, holder('a')), 'untrusted')
    assert.equal(judge(P, holder('b')), 'good')
    assert.equal(judge(P, holder('c')), 'untrusted')
    assert.equal(judge(P, holder('d')), 'untrusted')
    // The threshold is the policy's.
    const lenient = registryJudge(nodes, { badHolders: {} }, { threshold: 0.3 })
    assert.equal(lenient(P, holder('a')), 'good')
    const strict = registryJudge(nodes, { badHolders: {} }, { threshold: 0.7 })
    assert.equal(strict(P, holder('b')), 'untrusted')
  })

  test('a holder the registry does not know yet is good', () => {
    const judge = registryJudge(registry(nodeRecord('a', 'lost')), { badHolders: {} }, policy)
    assert.equal(judge(P, holder('f')), 'good')
    assert.equal(registryJudge(new Map(), undefined, policy)(P, holder('a')), 'good')
  })

  test('an offline node (within the grace period) and a registered node never pinged are good', () => {
    const judge = registryJudge(registry(nodeRecord('a', 'offline', HIGH), nodeRecord('b', 'unknown')), { badHolders: {} }, policy)
    assert.equal(judge(P, holder('a')), 'good')
    assert.equal(judge(P, holder('b')), 'good')
  })

  test('the judge looks holders up by node id, not by address', () => {
    const judge = registryJudge(registry(nodeRecord('a', 'lost')), { badHolders: {} }, policy)
    const sameAddressOtherNode: Holder = { host: '10.0.0.1', port: 4000, nodeId: id('b') as NodeId }
    assert.equal(judge(P, sameAddressOtherNode), 'good')
    assert.equal(judge(P, { ...sameAddressOtherNode, nodeId: id('a') as NodeId }), 'lost')
  })
})

describe('excludedNodes', () => {
  test('lost, offline and untrusted nodes get no new pieces; online or unknown trusted nodes do', () => {
    const nodes = [
      nodeRecord('a', 'online', HIGH),
      nodeRecord('b', 'lost', HIGH),
      nodeRecord('c', 'offline', HIGH),
      nodeRecord('d', 'online', LOW),
      nodeRecord('e', 'unknown'),
      nodeRecord('f', 'unknown', LOW),
      nodeRecord('9', 'online', EDGE)
    ]
    const out = excludedNodes(nodes, policy)
    assert.ok(out instanceof Set)
    assert.deepEqual([...out].sort(), [id('b'), id('c'), id('d'), id('f')])
    assert.equal(out.has(id('a')), false)
    assert.equal(out.has(id('e')), false)
    assert.equal(out.has(id('9')), false)
  })

  test('the threshold is the policy\'s; no nodes, nothing excluded', () => {
    const nodes = [nodeRecord('a', 'online', LOW), nodeRecord('b', 'online', EDGE)]
    assert.deepEqual([...excludedNodes(nodes, { threshold: 0.3 })], [])
    assert.deepEqual([...excludedNodes(nodes, { threshold: 0.7 })].sort(), [id('a'), id('b')])
    assert.equal(excludedNodes([], policy).size, 0)
  })

  test('takes any iterable (a registry map\'s values)', () => {
    const map = registry(nodeRecord('a', 'lost'), nodeRecord('b', 'online'))
    assert.deepEqual([...excludedNodes(map.values(), policy)], [id('a')])
  })
})

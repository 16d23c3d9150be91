import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { fileDetail, fileSummaries, fileSummary, healthStatus, isManifestId, nodeView, nodeViews, piecesPerNode, summarize } from '../../../src/dashboard/models.js'
import { withAudit, withFileFacts, withHealth, withRepair, type FileRecord } from '../../../src/jobs/file-state.js'
import { applyPing, withFacts, type NodeRecord } from '../../../src/jobs/node-state.js'
import { DEFAULT_REPUTATION_POLICY, recordAudit } from '../../../src/jobs/reputation.js'

const hex = (c: string): string => c.repeat(64)
const A = hex('a'); const B = hex('b'); const C = hex('c')
const policy = DEFAULT_REPUTATION_POLICY

function node (id: string, extra: Partial<NodeRecord> = {}): NodeRecord {
  return { ...withFacts(undefined, { nodeId: id, piece: { host: '127.0.0.1', port: 4000 } }, 1000, policy.initial), ...extra }
}

function file (id: string, k = 2, m = 2, segments = 3): FileRecord {
  return withFileFacts(undefined, { manifestId: id, capability: `batchain:v1:${id}`, dataShards: k, parityShards: m, segments, storedBytes: 1000, createdAt: '2026-01-01T00:00:00.000Z' }, 1000)
}

const seg = (index: number, states: string): { index: number, good: number, total: number, states: string } =>
  ({ index, good: [...states].filter(s => s === 'g').length, total: states.length, states })

describe('dashboard view models: nodes', () => {
  test('score, trust and used space; capacity may be unknown', () => {
    const plain = nodeView(node(A), 0, policy)
    assert.equal(plain.score, 1)
    assert.equal(plain.trusted, true)
    assert.equal(plain.used, undefined, 'no capacity reported: used unknown')
    const sized = nodeView(node(A, { capacity: 1000, free: 250 }), 3, policy)
    assert.equal(sized.used, 750)
    assert.equal(sized.pieces, 3)
    const onlyCapacity = nodeView(node(A, { capacity: 1000 }), 0, policy)
    assert.equal(onlyCapacity.used, undefined)
    const failed = recordAudit(recordAudit(node(B), false, policy), false, policy)
    const bad = nodeView(node(B, failed), 0, policy)
    assert.ok(bad.score < policy.threshold)
    assert.equal(bad.trusted, false)
  })

  test('pieces held per node sum over every file\'s last check; lost and offline nodes sort first', () => {
    const f1 = withHealth(file(A), [seg(0, 'gggg')], { [A]: 2, [B]: 2 }, 5)
    const f2 = withHealth(file(B), [seg(0, 'gggg')], { [B]: 3, [C]: 1 }, 5)
    assert.deepEqual([...piecesPerNode([f1, f2, file(C)])].sort(), [[A, 2], [B, 5], [C, 1]])
    const online = applyPing(node(A), { ok: true, at: 2000, rttMs: 1 }, { missesToOffline: 1, graceMs: 0 }).record
    const lost = applyPing(node(B), { ok: false, at: 2000, error: 'X' }, { missesToOffline: 1, graceMs: 0 }).record
    const views = nodeViews([online, node(C), lost], [f1, f2], policy)
    assert.deepEqual(views.map(v => [v.nodeId, v.state, v.pieces]), [[B, 'lost', 5], [C, 'unknown', 1], [A, 'online', 2]])
  })
})

describe('dashboard view models: files', () => {
  test('health status: unchecked, healthy, degraded (under the threshold), unrecoverable (under k)', () => {
    assert.equal(healthStatus(file(A)), 'unchecked')
    assert.equal(healthStatus(withHealth(file(A), [seg(0, 'gggg'), seg(1, 'gggg')], {}, 5)), 'healthy')
    assert.equal(healthStatus(withHealth(file(A), [seg(0, 'gggg'), seg(1, 'ggbg')], {}, 5)), 'degraded')
    assert.equal(healthStatus(withHealth(file(A), [seg(0, 'gggg'), seg(1, 'gmlb')], {}, 5)), 'unrecoverable')
  })

  test('summary row: name from the label or the short id, health numbers, audit result, repairs', () => {
    const plain = fileSummary(file(A))
    assert.equal(plain.name, A.slice(0, 12))
    assert.equal(plain.health, null)
    assert.equal(plain.lastAudit, null)
    let r: FileRecord = { ...file(B), label: 'report.pdf' }
    r = withHealth(r, [seg(0, 'gggg'), seg(1, 'ggbl'), seg(2, 'gggu')], { [A]: 6, [B]: 6 }, 5)
    r = withAudit(r, { at: 7, challenges: [{ pieceId: C, nodeId: A, state: 'failed' }, { pieceId: A, nodeId: B, state: 'ok' }, { pieceId: B, nodeId: null, state: 'missing' }] })
    r = withRepair(r, { at: 9, segment: 1, rebuilt: 2, bytes: 100, goodBefore: 2, goodAfter: 4, states: 'gggg', seconds: 1.5 })
    const s = fileSummary(r)
    assert.equal(s.name, 'report.pdf')
    assert.equal(s.status, 'degraded', 'segment 2 still has 3 of 4 good')
    assert.deepEqual(s.health, { checkedAt: 5, minGood: 3, width: 4, degraded: 1, piecesGood: 11, piecesTotal: 12, status: 'degraded' })
    assert.deepEqual({ ...s.lastAudit, unreachable: 0 }, { at: 7, challenged: 3, ok: 1, failed: 1, missing: 1, unreachable: 0, failedNodes: [A], passed: false })
    assert.deepEqual(s.repairs, { count: 1, piecesRebuilt: 2, bytesRebuilt: 100 })
  })

  test('detail: per-segment states and degraded flags, holders most first, repairs newest first', () => {
    let r = withHealth(file(A), [seg(0, 'gggg'), seg(1, 'gbgm')], { [B]: 1, [A]: 5 }, 5)
    r = withRepair(r, { at: 10, segment: 0, rebuilt: 1, bytes: 1, goodBefore: 3, goodAfter: 4, seconds: 1 })
    r = withRepair(r, { at: 20, segment: 1, rebuilt: 1, bytes: 1, goodBefore: 2, goodAfter: 3, seconds: 1 })
    const d = fileDetail(r)
    assert.deepEqual(d.segmentHealth.map(s => [s.index, s.states, s.degraded]), [[0, 'gggg', false], [1, 'gbgm', true]])
    assert.deepEqual(d.holders, [{ nodeId: A, pieces: 5 }, { nodeId: B, pieces: 1 }])
    assert.deepEqual(d.recentRepairs.map(x => x.at), [20, 10])
  })

  test('files sort worst first', () => {
    const healthy = { ...withHealth(file(A), [seg(0, 'gggg')], {}, 1), label: 'a' }
    const broken = { ...withHealth(file(B), [seg(0, 'gmmm')], {}, 1), label: 'z' }
    const unchecked = { ...file(C), label: 'm' }
    assert.deepEqual(fileSummaries([healthy, unchecked, broken]).map(f => f.status), ['unrecoverable', 'unchecked', 'healthy'])
  })

  test('manifest ids: 64 lowercase hex only', () => {
    assert.equal(isManifestId(A), true)
    for (const bad of [A.toUpperCase(), A.slice(1), `${A}0`, '../../etc/passwd', '', undefined, 7]) assert.equal(isManifestId(bad), false, String(bad))
  })
})

describe('dashboard view models: summary', () => {
  test('counts by state and status, capacity over the nodes that report it, audit and repair totals', () => {
    const nodes = [
      node(A, { state: 'online', capacity: 100, free: 40 }),
      node(B, { state: 'offline', capacity: 50, free: 50, auditFailures: 2, ...recordAudit(recordAudit(node(B), false, policy), false, policy) }),
      node(C, { state: 'lost' })
    ]
    const f1 = withAudit(withHealth(file(A), [seg(0, 'gggg'), seg(1, 'gbgg')], {}, 1), { at: 2, challenges: [{ pieceId: A, nodeId: B, state: 'failed' }] })
    const f2 = withRepair(withHealth(file(B), [seg(0, 'gggg')], {}, 1), { at: 3, segment: 0, rebuilt: 1, bytes: 10, goodBefore: 3, goodAfter: 4, seconds: 1 })
    const s = summarize(nodes, [f1, f2, file(C)], policy, 99, { audit: { waiting: 1 } })
    assert.deepEqual(s.nodes, { total: 3, byState: { online: 1, offline: 1, lost: 1, unknown: 0 }, trusted: 2, capacity: 150, free: 90, unknownCapacity: 1, auditFailures: 2 })
    assert.deepEqual(s.files.byStatus, { unchecked: 1, healthy: 1, degraded: 1, unrecoverable: 0 })
    assert.equal(s.files.segments, 9)
    assert.equal(s.files.segmentsDegraded, 1)
    assert.equal(s.files.piecesGood, 11)
    assert.equal(s.files.piecesTotal, 12)
    assert.equal(s.files.lastAuditFailed, 1)
    assert.deepEqual(s.repairs, { count: 1, piecesRebuilt: 1, bytesRebuilt: 10 })
    assert.deepEqual(s.queues, { audit: { waiting: 1 } })
    assert.equal(s.generatedAt, 99)
  })
})

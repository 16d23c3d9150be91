import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  MAX_BAD_HOLDERS, MAX_RECENT_REPAIRS, fileRecordSchema, isBadHolder, withAudit, withFileFacts, withHealth, withRepair,
  type AuditOutcome, type FileFacts, type FileRecord, type RepairOutcome, type SegmentHealth
} from '../../../src/jobs/file-state.js'

const MANIFEST = 'a'.repeat(64)
/** A distinct 64-hex id per number (pieces and nodes). */
const hexId = (prefix: string, n: number): string => `${prefix}${n.toString(16).padStart(8, '0')}`.padEnd(64, '0')
const piece = (n: number): string => hexId('e0', n)
const node = (n: number): string => hexId('d0', n)
const P1 = piece(1)
const P2 = piece(2)
const N1 = node(1)
const N2 = node(2)
const N3 = node(3)

const facts = (over: Partial<FileFacts> = {}): FileFacts => ({
  manifestId: MANIFEST,
  capability: `batchain:v1:${MANIFEST}`,
  dataShards: 4,
  parityShards: 2,
  segments: 3,
  storedBytes: 6000,
  createdAt: '2024-01-02T03:04:05.000Z',
  ...over
})

function assertValid (record: FileRecord): void {
  const parsed = fileRecordSchema.safeParse(record)
  assert.equal(parsed.success, true, parsed.success ? '' : JSON.stringify(parsed.error.issues))
}

const fresh = (over: Partial<FileFacts> = {}): FileRecord => withFileFacts(undefined, facts(over), 1000)

const seg = (index: number, good: number, states: string): SegmentHealth => ({ index, good, total: states.length, states })

const repair = (over: Partial<RepairOutcome> = {}): RepairOutcome => ({ at: 5000, segment: 1, rebuilt: 2, bytes: 2048, goodBefore: 4, goodAfter: 6, seconds: 1.5, ...over })

describe('file record: withFileFacts', () => {
  test('a new record has the facts, registeredAt = now, no history, threshold k + m', () => {
    const r = fresh()
    assert.deepEqual(r, {
      manifestId: MANIFEST,
      capability: `batchain:v1:${MANIFEST}`,
      dataShards: 4,
      parityShards: 2,
      segments: 3,
      storedBytes: 6000,
      repairThreshold: 6,
      createdAt: '2024-01-02T03:04:05.000Z',
      registeredAt: 1000,
      badHolders: {},
      repairs: { count: 0, piecesRebuilt: 0, bytesRebuilt: 0, recent: [] }
    })
    assert.equal('label' in r, false)
    assert.equal('owner' in r, false)
    assertValid(r)
  })

  test('the repair threshold is clamped into [k, k + m]', () => {
    assert.equal(fresh({ repairThreshold: 1 }).repairThreshold, 4)
    assert.equal(fresh({ repairThreshold: 3 }).repairThreshold, 4)
    assert.equal(fresh({ repairThreshold: 4 }).repairThreshold, 4)
    assert.equal(fresh({ repairThreshold: 5 }).repairThreshold, 5)
    assert.equal(fresh({ repairThreshold: 6 }).repairThreshold, 6)
    assert.equal(fresh({ repairThreshold: 100 }).repairThreshold, 6)
    assert.equal(fresh({ dataShards: 1, parityShards: 0 }).repairThreshold, 1)
    assert.equal(fresh({ dataShards: 1, parityShards: 0, repairThreshold: 7 }).repairThreshold, 1)
    for (const t of [1, 4, 5, 100]) assertValid(fresh({ repairThreshold: t }))
  })

  test('a refresh keeps the history and registeredAt, takes the new facts', () => {
    let r = fresh({ repairThreshold: 5, label: 'report.pdf', owner: 'ns/a' })
    r = withAudit(r, { at: 2000, challenges: [{ pieceId: P1, nodeId: N1, state: 'failed' }] })
    r = withHealth(r, [seg(0, 6, 'gggggg'), seg(1, 4, 'ggggmm'), seg(2, 6, 'gggggg')], { [N1]: 3 }, 3000)
    r = withRepair(r, repair({ at: 4000 }))
    const refreshed = withFileFacts(r, facts({ segments: 4, storedBytes: 9000, createdAt: 'later' }), 99_000)
    assert.equal(refreshed.registeredAt, 1000)
    assert.equal(refreshed.segments, 4)
    assert.equal(refreshed.storedBytes, 9000)
    assert.equal(refreshed.createdAt, 'later')
    assert.deepEqual(refreshed.lastAudit, r.lastAudit)
    assert.deepEqual(refreshed.health, r.health)
    assert.deepEqual(refreshed.repairs, r.repairs)
    assert.equal(refreshed.repairs.count, 1)
    assert.deepEqual(refreshed.badHolders, { [P1]: [N1] })
    // Not given again: threshold, label and owner stay.
    assert.equal(refreshed.repairThreshold, 5)
    assert.equal(refreshed.label, 'report.pdf')
    assert.equal(refreshed.owner, 'ns/a')
    assertValid(refreshed)
  })

  test('a refresh with a new threshold, label or owner replaces them; an old threshold is clamped to new k, m', () => {
    const r = fresh({ repairThreshold: 5, label: 'old', owner: 'ns/old' })
    const changed = withFileFacts(r, facts({ repairThreshold: 4, label: 'new', owner: 'ns/new' }), 2000)
    assert.equal(changed.repairThreshold, 4)
    assert.equal(changed.label, 'new')
    assert.equal(changed.owner, 'ns/new')
    // The kept threshold 5 no longer fits k = 2, m = 1.
    const smaller = withFileFacts(r, facts({ dataShards: 2, parityShards: 1 }), 2000)
    assert.equal(smaller.repairThreshold, 3)
    assert.equal(smaller.dataShards, 2)
    assert.equal(smaller.parityShards, 1)
    assertValid(changed)
    assertValid(smaller)
  })

  test('label and owner are set on a new record when given', () => {
    const r = fresh({ label: 'x.bin', owner: 'cli' })
    assert.equal(r.label, 'x.bin')
    assert.equal(r.owner, 'cli')
    assertValid(r)
  })

  test('the input record is not mutated', () => {
    const r = fresh({ repairThreshold: 5 })
    const copy = structuredClone(r)
    withFileFacts(r, facts({ repairThreshold: 4, label: 'l', storedBytes: 1 }), 5)
    assert.deepEqual(r, copy)
  })
})

describe('file record: withAudit', () => {
  const outcome: AuditOutcome = {
    at: 7000,
    challenges: [
      { pieceId: P1, nodeId: N1, state: 'ok' },
      { pieceId: P2, nodeId: N3, state: 'failed' },
      { pieceId: P1, nodeId: N2, state: 'failed' },
      { pieceId: piece(3), nodeId: N3, state: 'failed' },
      { pieceId: piece(4), nodeId: null, state: 'missing' },
      { pieceId: piece(5), nodeId: N1, state: 'unreachable' },
      { pieceId: piece(6), nodeId: N2, state: 'ok' },
      { pieceId: piece(7), nodeId: N2, state: 'unreachable' }
    ]
  }

  test('the summary counts every state; failed nodes are unique and sorted', () => {
    const r = withAudit(fresh(), outcome)
    assert.deepEqual(r.lastAudit, { at: 7000, challenged: 8, ok: 2, failed: 3, missing: 1, unreachable: 2, failedNodes: [N2, N3] })
    assert.ok(N2 < N3)
    assertValid(r)
  })

  test('only failed challenges make bad holders (not missing, unreachable or ok)', () => {
    const r = withAudit(fresh(), outcome)
    assert.deepEqual(r.badHolders, { [P2]: [N3], [P1]: [N2], [piece(3)]: [N3] })
    assert.equal(isBadHolder(r, P1, N2), true)
    assert.equal(isBadHolder(r, P1, N1), false, 'passed')
    assert.equal(isBadHolder(r, piece(5), N1), false, 'unreachable')
    assert.equal(isBadHolder(r, piece(7), N2), false, 'unreachable')
  })

  test('a bad holder is added once per piece and node; earlier bad holders and audits are kept', () => {
    const first = withAudit(fresh(), { at: 1, challenges: [{ pieceId: P1, nodeId: N1, state: 'failed' }] })
    const again = withAudit(first, { at: 2, challenges: [{ pieceId: P1, nodeId: N1, state: 'failed' }, { pieceId: P1, nodeId: N1, state: 'failed' }] })
    assert.deepEqual(again.badHolders, { [P1]: [N1] })
    assert.equal(again.lastAudit?.failed, 2)
    assert.deepEqual(again.lastAudit?.failedNodes, [N1])
    const other = withAudit(again, { at: 3, challenges: [{ pieceId: P1, nodeId: N2, state: 'failed' }, { pieceId: P2, nodeId: N1, state: 'ok' }] })
    assert.deepEqual(other.badHolders, { [P1]: [N1, N2] })
    // A later audit where a bad holder passes does not clear it.
    const passed = withAudit(other, { at: 4, challenges: [{ pieceId: P1, nodeId: N1, state: 'ok' }] })
    assert.deepEqual(passed.badHolders, { [P1]: [N1, N2] })
    assert.deepEqual(passed.lastAudit, { at: 4, challenged: 1, ok: 1, failed: 0, missing: 0, unreachable: 0, failedNodes: [] })
    // Inputs untouched.
    assert.deepEqual(first.badHolders, { [P1]: [N1] })
    assertValid(passed)
  })

  test('an empty audit records zeros', () => {
    const r = withAudit(fresh(), { at: 9, challenges: [] })
    assert.deepEqual(r.lastAudit, { at: 9, challenged: 0, ok: 0, failed: 0, missing: 0, unreachable: 0, failedNodes: [] })
    assert.deepEqual(r.badHolders, {})
    assertValid(r)
  })

  test(`at most ${MAX_BAD_HOLDERS} pieces keep bad holders: the oldest are dropped`, () => {
    const n = MAX_BAD_HOLDERS + 10
    let r = fresh()
    for (let i = 0; i < n; i++) r = withAudit(r, { at: i, challenges: [{ pieceId: piece(i), nodeId: N1, state: 'failed' }] })
    const keys = Object.keys(r.badHolders)
    assert.equal(keys.length, MAX_BAD_HOLDERS)
    assert.deepEqual(keys, Array.from({ length: MAX_BAD_HOLDERS }, (_, i) => piece(i + 10)))
    for (let i = 0; i < 10; i++) assert.equal(isBadHolder(r, piece(i), N1), false, `piece ${i} dropped`)
    assert.equal(isBadHolder(r, piece(n - 1), N1), true)
    assertValid(r)
  })

  test('one audit failing more pieces than the bound keeps the latest ones', () => {
    const n = MAX_BAD_HOLDERS + 3
    const r = withAudit(fresh(), { at: 1, challenges: Array.from({ length: n }, (_, i) => ({ pieceId: piece(i), nodeId: N2, state: 'failed' as const })) })
    const keys = Object.keys(r.badHolders)
    assert.equal(keys.length, MAX_BAD_HOLDERS)
    assert.equal(keys[0], piece(3))
    assert.equal(keys.at(-1), piece(n - 1))
    assert.equal(r.lastAudit?.failed, n)
    assert.deepEqual(r.lastAudit?.failedNodes, [N2])
    assertValid(r)
  })

  test('per piece at most 64 bad holders, per audit at most 64 failed nodes (the schema bounds)', () => {
    const challenges = Array.from({ length: 70 }, (_, i) => ({ pieceId: P1, nodeId: node(100 + i), state: 'failed' as const }))
    const r = withAudit(fresh(), { at: 1, challenges })
    assert.equal(r.badHolders[P1]?.length, 64)
    assert.equal(r.badHolders[P1]?.[0], node(106), 'oldest holders dropped first')
    assert.equal(r.badHolders[P1]?.at(-1), node(169))
    assert.equal(r.lastAudit?.failedNodes.length, 64)
    assert.deepEqual(r.lastAudit?.failedNodes, Array.from({ length: 64 }, (_, i) => node(100 + i)), 'the lowest 64 ids, sorted')
    assert.equal(r.lastAudit?.failed, 70)
    assertValid(r)
  })
})

describe('file record: withHealth', () => {
  test('good, states, nodes, minGood and degraded (under the threshold) are recorded', () => {
    const base = fresh({ repairThreshold: 5 })
    const nodes = { [N1]: 3, [N2]: 5 }
    const r = withHealth(base, [seg(0, 6, 'gggggg'), seg(1, 4, 'ggggml'), seg(2, 5, 'gggggb')], nodes, 4242)
    assert.deepEqual(r.health, {
      checkedAt: 4242,
      good: [6, 4, 5],
      states: ['gggggg', 'ggggml', 'gggggb'],
      nodes: { [N1]: 3, [N2]: 5 },
      minGood: 4,
      degraded: 1
    })
    nodes[N1] = 99
    assert.equal(r.health?.nodes[N1], 3, 'nodes copied')
    assertValid(r)
  })

  test('degraded follows the file threshold (default k + m: any lost piece)', () => {
    const segments = [seg(0, 6, 'gggggg'), seg(1, 5, 'gggggm'), seg(2, 4, 'ggggum')]
    assert.equal(withHealth(fresh(), segments, {}, 1).health?.degraded, 2)
    assert.equal(withHealth(fresh({ repairThreshold: 5 }), segments, {}, 1).health?.degraded, 1)
    assert.equal(withHealth(fresh({ repairThreshold: 4 }), segments, {}, 1).health?.degraded, 0)
  })

  test('no segments: minGood 0, nothing degraded; a new check replaces the old', () => {
    const empty = withHealth(fresh(), [], {}, 5)
    assert.deepEqual(empty.health, { checkedAt: 5, good: [], states: [], nodes: {}, minGood: 0, degraded: 0 })
    const next = withHealth(empty, [seg(0, 3, 'gggmmm')], { [N3]: 3 }, 6)
    assert.deepEqual(next.health, { checkedAt: 6, good: [3], states: ['gggmmm'], nodes: { [N3]: 3 }, minGood: 3, degraded: 1 })
    assertValid(empty)
    assertValid(next)
  })
})

describe('file record: withRepair', () => {
  const checked = (): FileRecord => withHealth(fresh({ repairThreshold: 5 }), [seg(0, 5, 'gggggm'), seg(1, 4, 'ggggml'), seg(2, 6, 'gggggg')], { [N1]: 6 }, 100)

  test('a repair counts pieces and bytes, and updates its segment\'s good and states', () => {
    const r = withRepair(checked(), repair({ segment: 1, rebuilt: 2, bytes: 2048, goodBefore: 4, goodAfter: 6, states: 'gggggg', seconds: 1.23456 }))
    assert.deepEqual(r.repairs, { count: 1, piecesRebuilt: 2, bytesRebuilt: 2048, repairedAt: { 1: 5000 }, recent: [{ at: 5000, segment: 1, rebuilt: 2, goodBefore: 4, goodAfter: 6, seconds: 1.235 }] })
    assert.deepEqual(r.health?.good, [5, 6, 6])
    assert.deepEqual(r.health?.states, ['gggggm', 'gggggg', 'gggggg'])
    assert.equal(r.health?.minGood, 5)
    assert.equal(r.health?.degraded, 0)
    assert.equal(r.health?.checkedAt, 100)
    assert.deepEqual(r.health?.nodes, { [N1]: 6 })
    assertValid(r)
  })

  test('without states only the good count changes; minGood and degraded follow it', () => {
    const r = withRepair(checked(), repair({ segment: 0, rebuilt: 1, goodBefore: 5, goodAfter: 3 }))
    assert.deepEqual(r.health?.good, [3, 4, 6])
    assert.deepEqual(r.health?.states, ['gggggm', 'ggggml', 'gggggg'])
    assert.equal(r.health?.minGood, 3)
    assert.equal(r.health?.degraded, 2)
  })

  test('repairs add up over several runs', () => {
    let r = checked()
    r = withRepair(r, repair({ at: 1, segment: 1, rebuilt: 1, bytes: 100, goodAfter: 5 }))
    r = withRepair(r, repair({ at: 2, segment: 0, rebuilt: 3, bytes: 300, goodAfter: 6 }))
    assert.equal(r.repairs.count, 2)
    assert.equal(r.repairs.piecesRebuilt, 4)
    assert.equal(r.repairs.bytesRebuilt, 400)
    assert.deepEqual(r.repairs.recent.map(e => [e.at, e.segment, e.rebuilt]), [[1, 1, 1], [2, 0, 3]])
    assert.deepEqual(r.health?.good, [6, 5, 6])
    assertValid(r)
  })

  test('a run that rebuilt nothing is not a repair, but its verified health still counts', () => {
    const before = checked()
    const r = withRepair(before, repair({ segment: 1, rebuilt: 0, bytes: 0, goodBefore: 5, goodAfter: 5, states: 'gggggm' }))
    assert.deepEqual(r.repairs, { count: 0, piecesRebuilt: 0, bytesRebuilt: 0, repairedAt: {}, recent: [] })
    assert.deepEqual(r.health?.good, [5, 5, 6])
    assert.deepEqual(r.health?.states, ['gggggm', 'gggggm', 'gggggg'])
    assert.equal(r.health?.degraded, 0)
    assertValid(r)
  })

  test(`at most ${MAX_RECENT_REPAIRS} recent repairs are kept, the latest`, () => {
    let r = checked()
    const runs = MAX_RECENT_REPAIRS + 5
    for (let i = 0; i < runs; i++) r = withRepair(r, repair({ at: i, segment: 2, rebuilt: 1, bytes: 10, goodAfter: 6 }))
    assert.equal(r.repairs.count, runs)
    assert.equal(r.repairs.piecesRebuilt, runs)
    assert.equal(r.repairs.bytesRebuilt, runs * 10)
    assert.equal(r.repairs.recent.length, MAX_RECENT_REPAIRS)
    assert.deepEqual(r.repairs.recent.map(e => e.at), Array.from({ length: MAX_RECENT_REPAIRS }, (_, i) => i + 5))
    assertValid(r)
  })

  test('without a health check, or for a segment past it, the health is left alone', () => {
    const unchecked = withRepair(fresh(), repair({ segment: 0 }))
    assert.equal('health' in unchecked, false)
    assert.equal(unchecked.repairs.count, 1)
    assertValid(unchecked)
    const before = checked()
    const past = withRepair(before, repair({ segment: 3, goodAfter: 0, states: 'mmmmmm' }))
    assert.deepEqual(past.health, before.health)
    assert.equal(past.repairs.count, 1)
    assertValid(past)
  })

  test('the input record is not mutated', () => {
    const before = checked()
    const copy = structuredClone(before)
    withRepair(before, repair({ segment: 1, states: 'gggggg' }))
    assert.deepEqual(before, copy)
  })
})

describe('file record: isBadHolder', () => {
  test('true only for a node listed under that very piece', () => {
    const r = { badHolders: { [P1]: [N1, N2], [P2]: [N3] } }
    assert.equal(isBadHolder(r, P1, N1), true)
    assert.equal(isBadHolder(r, P1, N2), true)
    assert.equal(isBadHolder(r, P2, N3), true)
    assert.equal(isBadHolder(r, P1, N3), false)
    assert.equal(isBadHolder(r, P2, N1), false)
    assert.equal(isBadHolder(r, piece(9), N1), false)
    assert.equal(isBadHolder({ badHolders: {} }, P1, N1), false)
  })
})

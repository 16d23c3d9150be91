import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { REPAIR_BATCH_SEGMENTS, auditDedupId, auditJobId, pingDedupId, pingJobId, repairBatchDedupId, repairBatchJobs, repairBatchOf, repairDedupId, repairPriority, tickOf } from '../../../src/jobs/job-ids.js'
import { parseJob } from '../../../src/jobs/payloads.js'
import { InvalidArgumentError } from '../../../src/core/errors.js'

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)

describe('job ids', () => {
  test('ticks are floor(time / period)', () => {
    assert.equal(tickOf(0, 1000), 0)
    assert.equal(tickOf(999, 1000), 0)
    assert.equal(tickOf(1000, 1000), 1)
    assert.equal(tickOf(1_700_000_123_456, 30_000), 56_666_670)
    assert.throws(() => tickOf(1, 0), InvalidArgumentError)
  })

  test('one ping per node per tick, one pending per node', () => {
    assert.equal(pingJobId(A, 5), pingJobId(A, 5))
    assert.notEqual(pingJobId(A, 5), pingJobId(A, 6))
    assert.notEqual(pingJobId(A, 5), pingJobId(B, 5))
    assert.equal(pingDedupId(A), pingDedupId(A))
    assert.notEqual(pingDedupId(A), pingDedupId(B))
  })

  test('one audit per file per tick, one pending per file', () => {
    assert.equal(auditJobId(A, 1), auditJobId(A, 1))
    assert.notEqual(auditJobId(A, 1), auditJobId(A, 2))
    assert.notEqual(auditJobId(A, 1), pingJobId(A, 1))
    assert.notEqual(auditDedupId(A), pingDedupId(A))
  })

  test('one repair per segment at a time', () => {
    assert.equal(repairDedupId(A, 3), repairDedupId(A, 3))
    assert.notEqual(repairDedupId(A, 3), repairDedupId(A, 4))
    assert.notEqual(repairDedupId(A, 3), repairDedupId(B, 3))
  })

  test('batch repair jobs: one per aligned range of degraded segments, worst first, each a valid payload', () => {
    const N = REPAIR_BATCH_SEGMENTS
    const cap = `batchain:v1:${A}`
    const jobs = repairBatchJobs(cap, [{ index: 2 * N + 1, good: 5 }, { index: 3, good: 5 }, { index: 0, good: 4 }, { index: 2 * N, good: 3 }, { index: N - 1, good: 5 }])
    assert.deepEqual(jobs.map(j => j.data.segments), [[2 * N, 2 * N + 1], [0, 3, N - 1]], 'grouped by range, sorted, worst range first')
    assert.deepEqual(jobs.map(j => j.data.good), [3, 4])
    assert.deepEqual(jobs.map(j => j.opts.priority), [repairPriority(3), repairPriority(4)])
    assert.deepEqual(jobs.map(j => j.opts.deduplication.id), [repairBatchDedupId(A, 2), repairBatchDedupId(A, 0)])
    for (const j of jobs) assert.deepEqual(parseJob('repair', j.name, j.data).data, j.data)
    assert.deepEqual(repairBatchJobs(cap, []), [])
    assert.throws(() => repairBatchJobs(`batchain:r1:${A}:key`, [{ index: 0, good: 0 }]), InvalidArgumentError)
  })

  test('one repair per segment at a time across batch jobs: segments of a range share one id, other ranges and files do not', () => {
    const N = REPAIR_BATCH_SEGMENTS
    for (let s = 0; s < 3 * N; s++) {
      assert.equal(repairBatchDedupId(A, repairBatchOf(s)), repairBatchDedupId(A, Math.floor(s / N)))
      // Any job holding segment s has this id, however the check grouped it.
      const [job] = repairBatchJobs(`batchain:v1:${A}`, [{ index: s, good: 1 }])
      assert.equal(job?.opts.deduplication.id, repairBatchDedupId(A, repairBatchOf(s)))
    }
    assert.notEqual(repairBatchDedupId(A, 0), repairBatchDedupId(A, 1))
    assert.notEqual(repairBatchDedupId(A, 0), repairBatchDedupId(B, 0))
    assert.notEqual(repairBatchDedupId(A, 0), repairDedupId(A, 0))
    assert.throws(() => repairBatchOf(-1), InvalidArgumentError)
  })

  test('ids are accepted by BullMQ: not integers, no ":"', () => {
    for (const id of [pingJobId(A, 1), auditJobId(A, 1), pingDedupId(A), auditDedupId(A), repairDedupId(A, 0), repairBatchDedupId(A, 0)]) {
      assert.ok(!id.includes(':'), id)
      assert.notEqual(`${parseInt(id, 10)}`, id)
    }
  })

  test('bad parts are refused, not turned into ids', () => {
    assert.throws(() => pingJobId('x', 1), InvalidArgumentError)
    assert.throws(() => pingJobId(A.toUpperCase(), 1), InvalidArgumentError)
    assert.throws(() => pingJobId(A, -1), InvalidArgumentError)
    assert.throws(() => pingJobId(A, 1.5), InvalidArgumentError)
    assert.throws(() => repairDedupId(`${A}.1`, 1), InvalidArgumentError)
  })

  test('repairs with fewer good pieces come first (lower BullMQ priority number), never priority 0', () => {
    assert.ok(repairPriority(0) < repairPriority(3))
    assert.equal(repairPriority(0), 1)
    assert.ok(repairPriority(1e9) <= 2_097_151)
  })
})

describe('scheduled ticks', () => {
  test('a scheduler job is due at the time in its id; others at timestamp + delay', async () => {
    const { scheduledAt } = await import('../../../src/jobs/keepalive.js')
    assert.equal(scheduledAt({ id: 'repeat:keepalive-tick:1795573611637', timestamp: 1795573610700, delay: 900 }), 1795573611637)
    assert.equal(tickOf(scheduledAt({ id: 'repeat:keepalive-tick:1795573611637', timestamp: 1, delay: 0 }), 1000), 1795573611)
    assert.equal(scheduledAt({ id: 'ping.x.1', timestamp: 1000, delay: 500 }), 1500)
    assert.equal(scheduledAt({ id: undefined, timestamp: 1000, delay: 0 }), 1000)
  })
})

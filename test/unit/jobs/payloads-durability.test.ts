import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { JOB_SCHEMAS, parseJob } from '../../../src/jobs/payloads.js'
import { REPAIR_BATCH_SEGMENTS } from '../../../src/jobs/job-ids.js'
import { JobPayloadError } from '../../../src/core/errors.js'

/** Payloads of the durability loop's periodic jobs: check-tick, and keepalive-tick's `discover`. */

const MANIFEST = 'b'.repeat(64)
const policy = { missesToOffline: 3, graceMs: 0, pingTimeoutMs: 1000 }
const DAY = 24 * 3600 * 1000

function payloadError (fn: () => unknown): JobPayloadError {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof JobPayloadError, `expected JobPayloadError, got ${String(err)}`)
    assert.equal(err.code, 'BATCHAIN_ERR_JOB_PAYLOAD')
    return err
  }
  assert.fail('expected a JobPayloadError')
}

describe('durability job payloads', () => {
  test('the repair queue knows check-tick, repair-check, repair-segment and repair-segments', () => {
    assert.deepEqual(Object.keys(JOB_SCHEMAS.repair).sort(), ['check-tick', 'repair-check', 'repair-segment', 'repair-segments'])
    const err = payloadError(() => parseJob('repair', 'check-tock', { everyMs: 1000 }))
    assert.match(err.message, /known: check-tick, repair-check, repair-segment, repair-segments/)
  })

  test('repair-segments: 1 to REPAIR_BATCH_SEGMENTS segments, increasing, all in one aligned range', () => {
    const capability = `batchain:v1:${MANIFEST}`
    const B = REPAIR_BATCH_SEGMENTS
    for (const segments of [[0], [B - 1], [0, 1, 2], [B, B + 3, 2 * B - 1], Array.from({ length: B }, (_, i) => 3 * B + i)]) {
      assert.deepEqual(parseJob('repair', 'repair-segments', { capability, segments, good: 5 }).data, { capability, segments, good: 5 }, JSON.stringify(segments))
    }
    assert.deepEqual(parseJob('repair', 'repair-segments', { capability, segments: [7] }).data, { capability, segments: [7] })
    for (const segments of [[], [1, 1], [2, 1], [B - 1, B], [0, 2 * B], [-1], [1.5], ['1'], null, 3, Array.from({ length: B + 1 }, (_, i) => i)]) {
      const err = payloadError(() => parseJob('repair', 'repair-segments', { capability, segments }))
      assert.match(err.message, /^Malformed repair\/repair-segments job: segments/, JSON.stringify(segments))
    }
    payloadError(() => parseJob('repair', 'repair-segments', { capability, segments: [0], extra: 1 }))
    payloadError(() => parseJob('repair', 'repair-segments', { capability, segments: [0], good: -1 }))
    payloadError(() => parseJob('repair', 'repair-segments', { segments: [0] }))
  })

  test('check-tick: everyMs from 1 s to 30 days, an integer, nothing else', () => {
    assert.deepEqual(parseJob('repair', 'check-tick', { everyMs: 1000 }), { name: 'check-tick', data: { everyMs: 1000 } })
    assert.deepEqual(parseJob('repair', 'check-tick', { everyMs: 30 * DAY }).data, { everyMs: 30 * DAY })
    assert.deepEqual(parseJob('repair', 'check-tick', { everyMs: 60_000 }).data, { everyMs: 60_000 })
    for (const everyMs of [999, 0, -1000, 30 * DAY + 1, 1000.5, '60000', null, Number.NaN, Number.POSITIVE_INFINITY]) {
      const err = payloadError(() => parseJob('repair', 'check-tick', { everyMs }))
      assert.match(err.message, /^Malformed repair\/check-tick job: everyMs: /, String(everyMs))
    }
    payloadError(() => parseJob('repair', 'check-tick', {}))
    payloadError(() => parseJob('repair', 'check-tick', { everyMs: 1000, capability: `batchain:v1:${MANIFEST}` }))
    for (const data of [null, undefined, 1000, 'x', []]) payloadError(() => parseJob('repair', 'check-tick', data))
  })

  test('check-tick is not a job of the audit or keepalive queue', () => {
    payloadError(() => parseJob('audit', 'check-tick', { everyMs: 1000 }))
    payloadError(() => parseJob('keepalive', 'check-tick', { everyMs: 1000 }))
  })

  test('keepalive-tick: discover is optional, an integer from 0 to 64', () => {
    const base = { everyMs: 1000, policy }
    assert.equal('discover' in parseJob('keepalive', 'keepalive-tick', base).data, false)
    for (const discover of [0, 1, 8, 64]) {
      const job = parseJob('keepalive', 'keepalive-tick', { ...base, discover })
      assert.equal(job.name, 'keepalive-tick')
      assert.deepEqual(job.data, { ...base, discover })
    }
    for (const discover of [65, 1000, -1, 1.5, '8', null, true, Number.NaN]) {
      const err = payloadError(() => parseJob('keepalive', 'keepalive-tick', { ...base, discover }))
      assert.match(err.message, /^Malformed keepalive\/keepalive-tick job: discover: /, String(discover))
    }
  })

  test('keepalive-tick with discover still checks the rest of the payload', () => {
    const err = payloadError(() => parseJob('keepalive', 'keepalive-tick', { everyMs: 50, policy, discover: 4 }))
    assert.match(err.message, /everyMs: /)
    assert.doesNotMatch(err.message, /discover/)
    payloadError(() => parseJob('keepalive', 'keepalive-tick', { everyMs: 1000, discover: 4 }))
    payloadError(() => parseJob('keepalive', 'keepalive-tick', { everyMs: 1000, policy, discover: 4, nodes: [] }))
  })
})

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { JOB_SCHEMAS, QUEUE_NAMES, isQueueName, parseJob } from '../../../src/jobs/payloads.js'
import { JobPayloadError } from '../../../src/core/errors.js'

const NODE = 'a'.repeat(64)
const MANIFEST = 'b'.repeat(64)
const KEY = 'A'.repeat(43)
const policy = { missesToOffline: 3, graceMs: 0, pingTimeoutMs: 1000 }

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

describe('job payloads', () => {
  test('every queue has schemas and the names are the documented four', () => {
    assert.deepEqual([...QUEUE_NAMES], ['keepalive', 'audit', 'repair', 'upload'])
    for (const q of QUEUE_NAMES) assert.ok(Object.keys(JOB_SCHEMAS[q]).length > 0)
    assert.equal(isQueueName('keepalive'), true)
    assert.equal(isQueueName('nope'), false)
  })

  test('valid payloads parse and keep their name', () => {
    const ping = parseJob('keepalive', 'ping', { nodeId: NODE, tick: 12, policy })
    assert.equal(ping.name, 'ping')
    assert.deepEqual(ping.data, { nodeId: NODE, tick: 12, policy })
    assert.equal(parseJob('keepalive', 'keepalive-tick', { everyMs: 1000, policy }).name, 'keepalive-tick')
    assert.equal(parseJob('audit', 'audit-file', { capability: `batchain:v1:${MANIFEST}`, tick: 0 }).name, 'audit-file')
    assert.equal(parseJob('repair', 'repair-segment', { capability: `batchain:v1:${MANIFEST}`, segment: 3, good: 4 }).name, 'repair-segment')
    assert.equal(parseJob('upload', 'upload-file', { source: { kind: 'path', path: '/tmp/x' }, recipient: 'A'.repeat(43) }).name, 'upload-file')
    assert.equal(parseJob('upload', 'upload-file', { source: { kind: 'url', url: 'http://127.0.0.1:8080/f' }, recipient: 'A'.repeat(43) }).name, 'upload-file')
    assert.equal(parseJob('upload', 'delete-file', { capability: `batchain:v1:${MANIFEST}` }).name, 'delete-file')
    assert.throws(() => parseJob('upload', 'upload-file', { source: { kind: 'url', url: 'ftp://x/f' }, recipient: 'A'.repeat(43) }), /http or https/)
  })

  test('an unknown job name fails with the queue and the known names', () => {
    const err = payloadError(() => parseJob('keepalive', 'rm -rf', {}))
    assert.match(err.message, /Unknown job "rm -rf" on queue keepalive \(known: keepalive-tick, ping\)/)
    // A name of the other queue is unknown here.
    payloadError(() => parseJob('keepalive', 'audit-file', { capability: `batchain:v1:${MANIFEST}`, tick: 0 }))
    // Inherited object keys are not job names.
    payloadError(() => parseJob('keepalive', 'constructor', {}))
    payloadError(() => parseJob('keepalive', '__proto__', {}))
  })

  test('malformed data fails naming every bad field, without echoing values', () => {
    const err = payloadError(() => parseJob('keepalive', 'ping', { nodeId: 'secret-ish-value', tick: -1, policy: { ...policy, missesToOffline: 0 } }))
    assert.match(err.message, /^Malformed keepalive\/ping job: /)
    assert.match(err.message, /nodeId: /)
    assert.match(err.message, /tick: /)
    assert.match(err.message, /policy\.missesToOffline: /)
    assert.doesNotMatch(err.message, /secret-ish-value/)
    for (const data of [null, undefined, 'x', 42, [], { nodeId: NODE, tick: 1 }, { nodeId: NODE, tick: 1.5, policy }, { nodeId: NODE, tick: 1, policy, extra: true }]) {
      payloadError(() => parseJob('keepalive', 'ping', data))
    }
  })

  test('a read capability (with its key) never passes as a job payload', () => {
    const read = `batchain:r1:${MANIFEST}:${KEY}`
    const err = payloadError(() => parseJob('audit', 'audit-file', { capability: read, tick: 1 }))
    assert.match(err.message, /verify capability/)
    assert.doesNotMatch(err.message, new RegExp(KEY))
    payloadError(() => parseJob('repair', 'repair-segment', { capability: read, segment: 0 }))
    payloadError(() => parseJob('repair', 'repair-segments', { capability: read, segments: [0] }))
    payloadError(() => parseJob('repair', 'repair-check', { capability: read }))
    payloadError(() => parseJob('audit', 'audit-file', { capability: `batchain:v1:${MANIFEST.toUpperCase()}`, tick: 1 }))
  })
})

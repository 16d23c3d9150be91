import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  capabilitySecretName, dataHashOf, healthOf, kubeTime, parseGoDuration, redact, redundancyOf, setCondition, statusMergePatch, uploadJobId
} from '../../../src/operator/status.js'
import type { FileRecord } from '../../../src/jobs/file-state.js'

describe('operator status logic', () => {
  test('redundancy defaults as the CRD says; the registry threshold counts "fewer than"', () => {
    assert.deepEqual(redundancyOf({ source: { inline: 'x' } }), { dataShards: 4, parityShards: 2, repairThreshold: 5, registryThreshold: 6 })
    assert.deepEqual(redundancyOf({ source: { inline: 'x' }, redundancy: { dataShards: 2, parityShards: 3, repairThreshold: 2 } }), { dataShards: 2, parityShards: 3, repairThreshold: 2, registryThreshold: 3 })
    assert.equal(redundancyOf({ source: {}, redundancy: { dataShards: 4, parityShards: 2, repairThreshold: 6 } }).registryThreshold, 6)
  })

  test('data hash: same data same hash; content, url, redundancy change it', () => {
    const r = redundancyOf({ source: {} })
    const a = dataHashOf('inline', { sha256: 'a'.repeat(64) }, r)
    assert.equal(a, dataHashOf('inline', { sha256: 'a'.repeat(64) }, r))
    assert.notEqual(a, dataHashOf('inline', { sha256: 'b'.repeat(64) }, r))
    assert.notEqual(a, dataHashOf('configMapKeyRef', { sha256: 'a'.repeat(64) }, r))
    assert.notEqual(a, dataHashOf('inline', { sha256: 'a'.repeat(64) }, redundancyOf({ source: {}, redundancy: { dataShards: 3 } })))
    assert.notEqual(dataHashOf('url', { url: 'http://x/a' }, r), dataHashOf('url', { url: 'http://x/b' }, r))
    assert.match(a, /^[0-9a-f]{64}$/)
    const id = uploadJobId('0f6e-uid', a)
    assert.equal(id, `upload.0f6e-uid.${a.slice(0, 16)}`)
    assert.ok(!id.includes(':'))
  })

  test('conditions: lastTransitionTime changes only with the status', () => {
    const c1 = setCondition([], { type: 'Ready', status: 'False', reason: 'Uploading', message: 'm' }, 't1')
    const c2 = setCondition(c1, { type: 'Ready', status: 'False', reason: 'Other', message: 'n' }, 't2')
    assert.equal(c2[0]!.lastTransitionTime, 't1')
    assert.equal(c2[0]!.reason, 'Other')
    const c3 = setCondition(c2, { type: 'Ready', status: 'True', reason: 'Stored', message: 'ok' }, 't3')
    assert.equal(c3[0]!.lastTransitionTime, 't3')
    assert.equal(c3.length, 1)
    assert.equal(setCondition(c3, { type: 'Stored', status: 'True', reason: 'Stored', message: '' }, 't4').length, 2)
  })

  test('status merge patch: only changed fields, removed ones as null, nothing when equal', () => {
    assert.equal(statusMergePatch({ phase: 'Ready', size: 1 }, { phase: 'Ready', size: 1 }), undefined)
    assert.deepEqual(statusMergePatch({ phase: 'Ready', size: 1, lastAudit: { time: 't', result: 'Passed' } }, { phase: 'Degraded', size: 1 }), { phase: 'Degraded', lastAudit: null })
    assert.deepEqual(statusMergePatch(undefined, { phase: 'Pending' }), { phase: 'Pending' })
  })

  test('health from a registry record: pieces, Healthy/Degraded, audit result, last repair', () => {
    assert.equal(healthOf(undefined).health, 'Unknown')
    const record = {
      manifestId: 'a'.repeat(64), capability: `batchain:v1:${'a'.repeat(64)}`, dataShards: 4, parityShards: 2, segments: 2, storedBytes: 1, repairThreshold: 6, createdAt: 'x', registeredAt: 1,
      health: { checkedAt: 5, good: [6, 4], states: ['gggggg', 'ggggll'], nodes: {}, minGood: 4, degraded: 1 },
      lastAudit: { at: 1_700_000_000_000, challenged: 12, ok: 11, failed: 1, missing: 0, unreachable: 0, failedNodes: [] },
      badHolders: {},
      repairs: { count: 1, piecesRebuilt: 2, bytesRebuilt: 10, recent: [{ at: 1_700_000_100_000, segment: 1, rebuilt: 2, goodBefore: 4, goodAfter: 6, seconds: 1 }] }
    } satisfies FileRecord
    const v = healthOf(record)
    assert.deepEqual(v.pieces, { good: 10, total: 12 })
    assert.equal(v.health, 'Degraded')
    assert.equal(v.degradedSegments, 1)
    assert.deepEqual(v.lastAudit, { time: new Date(1_700_000_000_000).toISOString(), result: 'Failed', piecesChecked: 12, piecesFailed: 1 })
    assert.equal(v.lastRepair?.piecesRepaired, 2)
    assert.equal(healthOf({ ...record, health: { ...record.health, good: [6, 6], degraded: 0 } }).health, 'Healthy')
  })

  test('durations, times, names, redaction', () => {
    assert.equal(parseGoDuration('1h30m'), 5_400_000)
    assert.equal(parseGoDuration('90s'), 90_000)
    assert.equal(parseGoDuration('1d'), undefined)
    assert.equal(kubeTime(Date.UTC(2024, 0, 2, 3, 4, 5, 678)), '2024-01-02T03:04:05Z')
    assert.equal(capabilitySecretName('hello'), 'hello-capability')
    const long = capabilitySecretName('a'.repeat(250))
    assert.ok(long.length <= 253 && long.endsWith('-capability'))
    assert.equal(redact(`failed for batchain:r1:${'a'.repeat(64)}:${'b'.repeat(43)} here`), 'failed for batchain:r1:<redacted> here')
  })
})

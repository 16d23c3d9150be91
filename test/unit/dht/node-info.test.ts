import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { generateIdentity } from '../../../src/crypto/keys.js'
import { dhtKeyOf } from '../../../src/dht/keys.js'
import { canonicalJson, checkNodeInfo, signNodeInfo } from '../../../src/dht/node-info.js'
import type { NodeInfo } from '../../../src/dht/types.js'

const identity = generateIdentity()
const signed = (): NodeInfo => signNodeInfo(identity, {
  role: 'storage',
  dht: { host: '127.0.0.1', port: 4000 },
  facts: { piece: { host: '127.0.0.1', port: 5000 }, capacity: 10_000, free: 4_000, zone: 'rack-1', reachability: 'direct' },
  version: '1.2.3',
  protocolVersion: 1,
  issuedAt: 1_700_000_000_000
})

describe('NodeInfo', () => {
  test('a signed NodeInfo verifies and binds to dhtKeyOf(nodeId)', () => {
    const info = signed()
    assert.equal(info.nodeId, identity.id)
    const check = checkNodeInfo(info)
    assert.ok(check.ok)
    assert.equal(check.key, dhtKeyOf(identity.id))
    assert.deepEqual(check.info, info)
  })

  test('survives a JSON round trip (the wire) and key order does not matter', () => {
    const info = signed()
    const reordered = Object.fromEntries(Object.entries(JSON.parse(JSON.stringify(info)) as object).reverse())
    assert.ok(checkNodeInfo(reordered).ok)
  })

  test('optional fields left out still sign and verify (bootstrap)', () => {
    const info = signNodeInfo(identity, { role: 'bootstrap', dht: { host: '::1', port: 1 }, facts: { capacity: 0, free: 0, reachability: 'unknown' }, version: 'x', protocolVersion: 1 })
    assert.equal(info.piece, undefined)
    assert.equal('zone' in info, false)
    assert.ok(checkNodeInfo(info).ok)
  })

  const tampers: Array<[string, (i: Record<string, unknown>) => void]> = [
    ['free', i => { i.free = 9_999 }],
    ['capacity', i => { i.capacity = 1 }],
    ['role', i => { i.role = 'bootstrap' }],
    ['dht port', i => { (i.dht as { port: number }).port = 4001 }],
    ['piece host', i => { (i.piece as { host: string }).host = '10.0.0.1' }],
    ['zone', i => { i.zone = 'rack-2' }],
    ['zone removed', i => { delete i.zone }],
    ['issuedAt', i => { i.issuedAt = (i.issuedAt as number) + 1 }],
    ['version', i => { i.version = '9.9.9' }],
    ['reachability', i => { i.reachability = 'unknown' }],
    ['extra field', i => { i.extra = 1 }],
    ['signature', i => { const s = Buffer.from(i.signature as string, 'base64url'); s[0] = (s[0] as number) ^ 1; i.signature = s.toString('base64url') }]
  ]
  for (const [name, tamper] of tampers) {
    test(`tampered ${name} fails`, () => {
      const info = JSON.parse(JSON.stringify(signed())) as Record<string, unknown>
      tamper(info)
      const check = checkNodeInfo(info)
      assert.equal(check.ok, false)
    })
  }

  test('another key cannot claim the node id (nodeId must be sha256 of publicKey)', () => {
    const other = generateIdentity()
    const info = signNodeInfo(other, { role: 'storage', dht: { host: '127.0.0.1', port: 1 }, facts: { capacity: 1, free: 1, reachability: 'direct' }, version: 'v', protocolVersion: 1 })
    const forged = { ...info, nodeId: identity.id }
    const check = checkNodeInfo(forged)
    assert.equal(check.ok, false)
    assert.match((check as { reason: string }).reason, /hash of publicKey/)
  })

  test('malformed values are refused without throwing', () => {
    for (const bad of [null, 1, 'x', [], {}, { ...signed(), capacity: -1 }, { ...signed(), nodeId: 'ab' }, { ...signed(), dht: { host: '', port: 0 } }, { ...signed(), role: 'admin' }]) {
      assert.equal(checkNodeInfo(bad).ok, false)
    }
  })

  test('canonicalJson sorts keys at every level and drops undefined', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: undefined } }), '{"a":{"d":[1,{"x":1,"y":2}]},"b":1}')
  })
})

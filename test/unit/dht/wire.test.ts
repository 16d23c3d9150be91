import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { generateIdentity } from '../../../src/crypto/keys.js'
import { ContactStore } from '../../../src/dht/contact-store.js'
import { dhtKeyOf } from '../../../src/dht/keys.js'
import { signNodeInfo } from '../../../src/dht/node-info.js'
import type { DhtKey } from '../../../src/dht/types.js'
import { contactBinds, encodeEnvelope, parseEnvelope, type Contact } from '../../../src/dht/wire.js'

const identity = generateIdentity()
const sender: Contact = [dhtKeyOf(identity.id), { hostname: '127.0.0.1', port: 4000, pub: identity.publicKey.toString('base64url'), role: 'storage' }]

describe('wire envelope', () => {
  test('round trip of request, result and error', () => {
    const req = parseEnvelope(encodeEnvelope({ jsonrpc: '2.0', id: 'a', method: 'PING', params: [] }, sender))
    assert.ok(req.ok && req.envelope.kind === 'request' && req.envelope.message.method === 'PING')
    assert.deepEqual(req.ok && req.envelope.sender, sender)
    const res = parseEnvelope(encodeEnvelope({ jsonrpc: '2.0', id: 'a', result: [1] }, sender))
    assert.ok(res.ok && res.envelope.kind === 'result')
    const err = parseEnvelope(encodeEnvelope({ jsonrpc: '2.0', id: 'a', error: { code: -1, message: 'no' } }, sender))
    assert.ok(err.ok && err.envelope.kind === 'error')
  })

  test('garbage is refused with a JSON-RPC code, never a throw', () => {
    const cases: Array<[string | Buffer, number]> = [
      [Buffer.from([0xff, 0x00, 0x13]), -32700],
      ['{', -32700],
      ['{"jsonrpc":"2.0","id":"x","method":"PING","params":[]}', -32600], // kadence crashes on this (no IDENTIFY)
      ['[{"jsonrpc":"2.0","id":"x","method":"PING","params":[]}]', -32600],
      ['[{"jsonrpc":"2.0","id":"x","method":"PING"},{"jsonrpc":"2.0","method":"IDENTIFY","params":["zz",{}]}]', -32600],
      ['[1,2]', -32600],
      ['null', -32600],
      ['"str"', -32600]
    ]
    for (const [input, code] of cases) {
      const parsed = parseEnvelope(Buffer.isBuffer(input) ? input : Buffer.from(input))
      assert.equal(parsed.ok, false, String(input))
      assert.equal(!parsed.ok && parsed.code, code, String(input))
    }
  })

  test('a malformed answer is never answered (no error ping-pong between nodes)', () => {
    const parsed = parseEnvelope(Buffer.from('[{"jsonrpc":"2.0","id":"x","result":1}]'))
    assert.ok(!parsed.ok && !parsed.isRequest)
  })

  test('a contact binds only to the key of its own public key', () => {
    assert.ok(contactBinds(sender[0], sender[1]))
    assert.equal(contactBinds(dhtKeyOf(generateIdentity().id), sender[1]), false)
    assert.equal(contactBinds('nothex' as DhtKey, sender[1]), false)
  })
})

describe('ContactStore', () => {
  const info = (issuedAt: number, port = 4000): ReturnType<typeof signNodeInfo> =>
    signNodeInfo(identity, { role: 'storage', dht: { host: '127.0.0.1', port }, facts: { capacity: 1, free: 1, reachability: 'direct' }, version: 'v', protocolVersion: 1, issuedAt })
  const NOW = 1_700_000_000_000

  test('newest issuedAt wins; older and forged records are refused; records expire', () => {
    const store = new ContactStore({ ttlMs: 10_000 })
    const first = info(NOW, 4000)
    const moved = info(NOW + 100, 4001)
    assert.equal(store.put(first, NOW), 'stored')
    assert.equal(store.put(first, NOW), 'unchanged')
    assert.equal(store.put(moved, NOW + 200), 'stored')
    assert.equal(store.put(first, NOW + 200), 'stale')
    assert.equal(store.get(identity.id, NOW + 200)?.dht.port, 4001)
    assert.equal(store.put({ ...moved, free: 5 }, NOW + 200), 'invalid')
    assert.equal(store.put(info(NOW + 10 * 60_000), NOW), 'invalid', 'from the future')
    assert.equal(store.get(identity.id, NOW + 100 + 10_000), undefined, 'expired')
    assert.equal(store.put(info(NOW - 20_000), NOW), 'expired')
  })

  test('bounded', () => {
    const store = new ContactStore({ ttlMs: 10_000, maxRecords: 1 })
    assert.equal(store.put(info(NOW), NOW), 'stored')
    const other = signNodeInfo(generateIdentity(), { role: 'storage', dht: { host: '127.0.0.1', port: 1 }, facts: { capacity: 1, free: 1, reachability: 'direct' }, version: 'v', protocolVersion: 1, issuedAt: NOW })
    assert.equal(store.put(other, NOW), 'full')
  })
})

describe('parseContact (hot-path twin of contactSchema)', () => {
  const good = sender
  test('agrees with contactSchema on valid and invalid contacts', async () => {
    const { contactSchema, parseContact } = await import('../../../src/dht/wire.js')
    const cases: unknown[] = [
      good,
      [good[0], { ...good[1], role: 'client' }],
      [good[0], { ...good[1], hostname: '::1' }],
      [good[0], { ...good[1], hostname: 'example.com' }],
      [good[0], { ...good[1], port: 0 }],
      [good[0], { ...good[1], port: 70000 }],
      [good[0], { ...good[1], port: 1.5 }],
      [good[0], { ...good[1], pub: 'short' }],
      [good[0], { ...good[1], role: 'admin' }],
      [good[0].toUpperCase(), good[1]],
      [good[0], null],
      [good[0]],
      [good[0], good[1], 1],
      'x', null, 42, {}
    ]
    for (const value of cases) {
      assert.equal(parseContact(value) !== undefined, contactSchema.safeParse(value).success, JSON.stringify(value))
    }
    assert.deepEqual(parseContact(good), good)
  })
})

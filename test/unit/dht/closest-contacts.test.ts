import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { silentLogger } from '../../../src/core/logger.js'
import { generateIdentity } from '../../../src/crypto/keys.js'
import { BatKadNode } from '../../../src/dht/kadence-node.js'
import { dhtKeyOf, randomKeyInBucket, sortByDistance } from '../../../src/dht/keys.js'
import type { DhtKey } from '../../../src/dht/types.js'

/** The routing table's closest contacts (what FIND_NODE answers) against brute force. */
describe('BatKadNode.closestContacts', () => {
  let node: BatKadNode
  const keys: DhtKey[] = []
  before(async () => {
    const id = generateIdentity()
    node = await BatKadNode.start({ key: dhtKeyOf(id.id), publicKey: id.publicKey.toString('base64url'), role: 'storage', host: '127.0.0.1', port: 0, rpcTimeoutMs: 1000, logger: silentLogger() })
    // Far buckets fill up (K each), near ones stay sparse: the shape of a real table.
    for (let i = 0; i < 3000; i++) {
      const key = i % 3 === 0 ? randomKeyInBucket(node.key, 140 + (i % 20)) : randomBytes(20).toString('hex') as DhtKey
      const [, bucket, index] = node.router.addContactByNodeId(key, { hostname: '127.0.0.1', port: 1 + (i % 60000), pub: 'x'.repeat(43), role: 'storage' })
      if (index !== -1 && !keys.includes(key) && bucket.has(key)) keys.push(key)
    }
  })
  after(async () => { await node?.close() })

  test('matches brute force for random keys, own key, contact keys and keys in every bucket', () => {
    const held = node.contacts().map(c => c[0])
    assert.ok(held.length > 100)
    const targets: DhtKey[] = [node.key, ...held.slice(0, 20)]
    for (let i = 0; i < 200; i++) targets.push(randomBytes(20).toString('hex') as DhtKey)
    for (let index = 0; index < 160; index += 7) targets.push(randomKeyInBucket(node.key, index))
    for (const target of targets) {
      for (const count of [1, 5, 20, 60]) {
        const got = node.closestContacts(target, count).map(c => c[0])
        assert.deepEqual(got, sortByDistance(held, target, k => k).slice(0, count), `target ${target} count ${count}`)
      }
    }
  })

  test('leaves out the asker', () => {
    const asker = node.contacts()[3]![0]
    const got = node.closestContacts(asker, 20, asker).map(c => c[0])
    assert.ok(!got.includes(asker))
    assert.equal(got.length, 20)
  })
})

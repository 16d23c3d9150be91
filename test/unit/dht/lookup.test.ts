import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import { keyBytes, sortByDistance } from '../../../src/dht/keys.js'
import { iterativeLookup } from '../../../src/dht/lookup.js'
import type { DhtKey } from '../../../src/dht/types.js'
import type { Contact } from '../../../src/dht/wire.js'

/**
 * iterativeLookup against an in-process fake network (pure logic: no sockets): every peer knows
 * every other one and answers with the K closest it knows, as FIND_NODE does.
 */
function network (size: number): { keys: DhtKey[], contact: (key: DhtKey) => Contact } {
  const keys = Array.from({ length: size }, () => randomBytes(20).toString('hex') as DhtKey)
  const contact = (key: DhtKey): Contact => [key, { hostname: '127.0.0.1', port: 1 + parseInt(key.slice(0, 4), 16), pub: 'x'.repeat(43), role: 'storage' }]
  return { keys, contact }
}

function closestTo (keys: readonly DhtKey[], target: DhtKey, count: number): DhtKey[] {
  return sortByDistance(keys, target, k => k).slice(0, count)
}

describe('iterativeLookup', () => {
  const { keys, contact } = network(200)
  const self = randomBytes(20).toString('hex') as DhtKey
  const target = randomBytes(20).toString('hex') as DhtKey
  const query = async (peer: Contact): Promise<Contact[]> => closestTo(keys.filter(k => k !== peer[0]), target, 20).map(contact)
  // We start knowing a few far peers only, so reaching the closest takes several rounds.
  const far = sortByDistance(keys, target, k => k).slice(-8).map(contact)

  test('without stop, ends when the K closest have all answered', async () => {
    const outcome = await iterativeLookup({ target, self, initial: far, count: 20, alpha: 3, query, onFailure: () => {} })
    assert.deepEqual(outcome.contacts.map(c => c[0]), closestTo(keys, target, 20))
    assert.ok(outcome.queried >= 20)
  })

  test('stop() ends the lookup at the first answer that satisfies it (FIND_VALUE), with fewer requests', async () => {
    // The value sits on the 8 closest peers: the lookup may stop as soon as two of them answered.
    const holders = new Set(closestTo(keys, target, 8))
    let answersWithValue = 0
    const asked: DhtKey[] = []
    const outcome = await iterativeLookup({
      target,
      self,
      initial: far,
      count: 20,
      alpha: 3,
      stop: () => answersWithValue >= 2,
      query: async peer => {
        asked.push(peer[0])
        if (holders.has(peer[0])) answersWithValue++
        return await query(peer)
      },
      onFailure: () => {}
    })
    assert.ok(answersWithValue >= 2)
    const full = await iterativeLookup({ target, self, initial: far, count: 20, alpha: 3, query, onFailure: () => {} })
    assert.ok(outcome.queried < full.queried, `stopped after ${outcome.queried} requests, the full lookup took ${full.queried}`)
    // What it returns are peers that answered, closest first.
    const answered = outcome.contacts.map(c => c[0])
    assert.ok(answered.every(k => asked.includes(k)))
    assert.deepEqual(answered, [...answered].sort((a, b) => Buffer.compare(xor(a, target), xor(b, target))))
  })

  test('a stop() that never holds changes nothing', async () => {
    const outcome = await iterativeLookup({ target, self, initial: far, count: 20, alpha: 3, query, stop: () => false, onFailure: () => {} })
    assert.deepEqual(outcome.contacts.map(c => c[0]), closestTo(keys, target, 20))
  })
})

function xor (a: DhtKey, b: DhtKey): Buffer {
  const x = keyBytes(a)
  const y = keyBytes(b)
  return Buffer.from(x.map((v, i) => v ^ (y[i] as number)))
}

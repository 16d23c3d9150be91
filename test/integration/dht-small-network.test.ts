import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import type { PieceId } from '../../src/core/ids.js'
import { generateIdentity } from '../../src/crypto/keys.js'
import { signPointer } from '../../src/crypto/pointer.js'
import type { Dht, DhtKey } from '../../src/dht/index.js'
import { bruteForceClosest, startDhtNetwork, startDhtNode, type DhtNetwork } from '../helpers/dht.js'

/**
 * A network smaller than K (8 real kadence nodes on loopback UDP), the shape of a testnet: lookups
 * reuse whole-table answers instead of asking again, pointer publishing sends one STORE_POINTERS per
 * peer for many pieces, pointer lookups stop at the first answers with records — and all of them
 * still give exactly what the full protocol gives.
 */

const randomKey = (): DhtKey => randomBytes(20).toString('hex') as DhtKey
const randomPiece = (): PieceId => randomBytes(32).toString('hex') as PieceId

/** Counts the requests a Dht sends, by method (instrumentation of our own object, not a stand-in). */
function countRequests (dht: Dht): Map<string, number> {
  const counts = new Map<string, number>()
  const kad = (dht as unknown as { kad: { request: (method: string, ...rest: unknown[]) => Promise<unknown> } }).kad
  const original = kad.request.bind(kad)
  kad.request = async (method: string, ...rest: unknown[]) => {
    counts.set(method, (counts.get(method) ?? 0) + 1)
    return await original(method, ...rest)
  }
  return counts
}

describe('DHT in a network smaller than K', () => {
  let net: DhtNetwork
  before(async () => { net = await startDhtNetwork(8) })
  after(async () => { await net?.stop() })

  test('after one lookup, lookups of other keys reuse the whole-table answers and stay exact', async () => {
    const asker = net.nodes[3]!.dht
    const counts = countRequests(asker)
    const first = await asker.closest(randomKey())
    assert.ok((counts.get('FIND_NODE') ?? 0) > 0)
    assert.equal(first.peers.length, 7)
    const asked = counts.get('FIND_NODE') ?? 0
    for (let i = 0; i < 10; i++) {
      const key = randomKey()
      const result = await asker.closest(key)
      assert.deepEqual(result.peers.map(p => p.key), bruteForceClosest(net.nodes, key, 20, asker.key))
    }
    assert.equal(counts.get('FIND_NODE') ?? 0, asked, 'no FIND_NODE sent for the next 10 lookups')
  })

  test('a node that joins is seen by lookups once the reused answers are older than 5 s', async t => {
    const asker = net.nodes[5]!.dht
    await asker.closest(randomKey())
    const late = await startDhtNode({ role: 'storage', facts: () => ({ piece: { host: '127.0.0.1', port: 999 }, capacity: 1e9, free: 1e9, reachability: 'direct' }) })
    t.after(async () => { await late.dht.stop() })
    await late.dht.join([net.nodes[0]!.dht.address()])
    const seen = async (): Promise<boolean> => (await asker.closest(randomKey())).peers.some(p => p.key === late.dht.key)
    const started = Date.now()
    while (!await seen()) {
      assert.ok(Date.now() - started < 8000, 'the new node is found within 8 s')
      await new Promise(resolve => setTimeout(resolve, 250))
    }
  })

  test('publishPointers sends one STORE_POINTERS per replica for a segment\'s records, and every record is findable', async () => {
    const publisher = net.nodes[2]!.dht
    const reader = net.nodes[6]!.dht
    const holder = generateIdentity()
    const pieces = Array.from({ length: 6 }, randomPiece)
    const counts = countRequests(publisher)
    const result = await publisher.publishPointers(pieces.map(id => signPointer(holder, id, { ttlMs: 60_000 })))
    assert.deepEqual(result, { stored: 6, failed: 0 })
    // Every node is among the R = 8 closest of every piece here: the publisher stores its own copy
    // and sends each of the other 7 one request holding all 6 records (not 6 requests each).
    assert.equal(counts.get('BATCHAIN_STORE_POINTERS'), 7)
    const readerCounts = countRequests(reader)
    for (const id of pieces) {
      const found = await reader.findPointers(id, { fast: true })
      assert.deepEqual(found.map(r => r.holder), [holder.id])
    }
    // Fast (FIND_VALUE): at most two requests per lookup (two in flight, stop at two answers with records).
    assert.ok((readerCounts.get('BATCHAIN_FIND_POINTERS') ?? 0) <= 2 * pieces.length, `sent ${readerCounts.get('BATCHAIN_FIND_POINTERS')}`)
    assert.equal(readerCounts.get('FIND_NODE') ?? 0, 0)
  })

  test('records of one piece left on different nodes by churn: the complete lookup finds every holder', async () => {
    const [a, b] = [generateIdentity(), generateIdentity()]
    const id = randomPiece()
    // Each holder's record on a single node, as when the neighbourhood changed between publications.
    const storeOn = async (node: Dht, record: ReturnType<typeof signPointer>): Promise<void> => {
      const kad = (net.nodes[7]!.dht as unknown as { kad: { request: (m: string, p: unknown, t: { key: string, host: string, port: number }) => Promise<{ result: unknown }> } }).kad
      const { result } = await kad.request('BATCHAIN_STORE_POINTERS', [[record]], { key: node.key, ...node.address() })
      assert.deepEqual(result, ['accepted'], 'kept; its signature is checked when first served')
    }
    await storeOn(net.nodes[1]!.dht, signPointer(a, id, { ttlMs: 60_000 }))
    await storeOn(net.nodes[2]!.dht, signPointer(b, id, { ttlMs: 60_000 }))
    const found = await net.nodes[6]!.dht.findPointers(id)
    assert.deepEqual(found.map(r => r.holder).sort(), [a.id, b.id].sort())
  })

  test('findPointersMany: a download batch\'s pieces found with a few batched requests, as findPointers finds them', async () => {
    const holders = [generateIdentity(), generateIdentity()]
    const pieces = Array.from({ length: 40 }, randomPiece)
    const records = pieces.flatMap((id, i) => holders.slice(0, 1 + (i % 2)).map(h => signPointer(h, id, { ttlMs: 60_000 })))
    for (let i = 0; i < records.length; i += 32) assert.equal((await net.nodes[1]!.dht.publishPointers(records.slice(i, i + 32))).failed, 0)
    const reader = net.nodes[5]!.dht
    const counts = countRequests(reader)
    const nobody = randomPiece()
    const found = await reader.findPointersMany([...pieces, nobody])
    assert.deepEqual([...found.keys()], [...pieces, nobody], 'one entry per piece, in the order asked')
    pieces.forEach((id, i) => {
      assert.deepEqual(found.get(id)?.map(r => r.holder).sort(), holders.slice(0, 1 + (i % 2)).map(h => h.id).sort(), `piece ${i}`)
    })
    assert.deepEqual(found.get(nobody), [])
    // 41 pieces to their closest peer, ≤ 16 per request: at most ceil(41 / 16) + one per peer.
    const batched = counts.get('BATCHAIN_FIND_POINTERS_MANY') ?? 0
    assert.ok(batched >= 3 && batched <= 3 + 7, `sent ${batched} FIND_POINTERS_MANY`)
    // Only the piece nobody holds went on to a lookup of its own.
    assert.ok((counts.get('BATCHAIN_FIND_POINTERS') ?? 0) <= 8, `sent ${counts.get('BATCHAIN_FIND_POINTERS')} FIND_POINTERS`)
    await assert.rejects(reader.findPointersMany(['not a piece id' as PieceId]), /piece ids/)
  })

  test('findPointersMany complete: every holder of every piece, as findPointers finds them, in a request per replica per 16 pieces', async () => {
    const holders = Array.from({ length: 5 }, () => generateIdentity())
    const pieces = Array.from({ length: 40 }, randomPiece)
    // Most pieces have 1 or 2 holders; one has 5, more than a batched answer carries per piece.
    const crowded = pieces[7]!
    const records = pieces.flatMap((id, i) => holders.slice(0, id === crowded ? 5 : 1 + (i % 2)).map(h => signPointer(h, id, { ttlMs: 60_000 })))
    for (let i = 0; i < records.length; i += 32) assert.equal((await net.nodes[1]!.dht.publishPointers(records.slice(i, i + 32))).failed, 0)
    // And one piece whose two holders' records each sit on a single node (churn).
    const scattered = randomPiece()
    const kad = (net.nodes[7]!.dht as unknown as { kad: { request: (m: string, p: unknown, t: { key: string, host: string, port: number }) => Promise<{ result: unknown }> } }).kad
    for (const [i, h] of holders.slice(0, 2).entries()) {
      const node = net.nodes[1 + i]!.dht
      await kad.request('BATCHAIN_STORE_POINTERS', [[signPointer(h, scattered, { ttlMs: 60_000 })]], { key: node.key, ...node.address() })
    }
    const reader = net.nodes[5]!.dht
    const ids = [...pieces, scattered, randomPiece()]
    const counts = countRequests(reader)
    const found = await reader.findPointersMany(ids, { complete: true })
    const batched = counts.get('BATCHAIN_FIND_POINTERS_MANY') ?? 0
    const single = counts.get('BATCHAIN_FIND_POINTERS') ?? 0
    for (const id of ids) {
      assert.deepEqual(found.get(id)?.map(r => r.holder).sort(), (await reader.findPointers(id)).map(r => r.holder).sort(), `piece ${id.slice(0, 8)}`)
    }
    assert.equal(found.get(crowded)?.length, 5, 'all 5 holders of the crowded piece')
    assert.equal(found.get(scattered)?.length, 2, 'both scattered records')
    assert.equal(found.get(ids.at(-1)!)?.length, 0)
    // 7 replicas × ⌈42 / 16⌉ batches; then the crowded piece alone at each replica, and the piece
    // nobody holds is asked of nobody else (all 7 are its R closest already).
    assert.ok(batched <= 7 * 3, `sent ${batched} FIND_POINTERS_MANY`)
    assert.ok(single <= 7, `sent ${single} FIND_POINTERS`)
  })

  test('findPointersMany: a piece whose record sits only on a far node is still found (its own lookup after the batch)', async () => {
    const id = randomPiece()
    const holder = generateIdentity()
    const reader = net.nodes[4]!.dht
    // The farthest node from the piece (not counting the reader): the batch asks the closest.
    const far = bruteForceClosest(net.nodes.filter(n => n.dht !== reader), id.slice(0, 40) as DhtKey, 8).at(-1)!
    const target = net.nodes.find(n => n.dht.key === far)!.dht
    const kad = (net.nodes[7]!.dht as unknown as { kad: { request: (m: string, p: unknown, t: { key: string, host: string, port: number }) => Promise<{ result: unknown }> } }).kad
    const { result } = await kad.request('BATCHAIN_STORE_POINTERS', [[signPointer(holder, id, { ttlMs: 60_000 })]], { key: target.key, ...target.address() })
    assert.deepEqual(result, ['accepted'])
    const found = await reader.findPointersMany([id])
    assert.deepEqual(found.get(id)?.map(r => r.holder), [holder.id])
  })

  test('a piece nobody holds: the pointer lookup asks every node once and finds nothing', async () => {
    const reader = net.nodes[4]!.dht
    const counts = countRequests(reader)
    assert.deepEqual(await reader.findPointers(randomPiece(), { fast: true }), [])
    const asked = counts.get('BATCHAIN_FIND_POINTERS') ?? 0
    assert.ok(asked >= 7 && asked <= 8, `asked ${asked} nodes`)
  })
  // Last: it stops a node.
  test('findPointersMany complete: a replica that died costs one request, not one per batch', async () => {
    const holder = generateIdentity()
    const pieces = Array.from({ length: 48 }, randomPiece)
    for (let i = 0; i < pieces.length; i += 32) {
      assert.equal((await net.nodes[1]!.dht.publishPointers(pieces.slice(i, i + 32).map(id => signPointer(holder, id, { ttlMs: 60_000 })))).failed, 0)
    }
    const reader = net.nodes[6]!.dht
    const victim = net.nodes[3]!.dht
    await reader.findPointersMany(pieces, { complete: true }) // warm: every lookup's whole-table answers, the victim among them
    await victim.stop()
    const toVictim: string[] = []
    const kad = (reader as unknown as { kad: { request: (m: string, p: unknown, t: { key: string }, o?: unknown) => Promise<unknown> } }).kad
    const original = kad.request.bind(kad)
    kad.request = async (method, params, target, options) => {
      if (target.key === victim.key) toVictim.push(method)
      return await original(method, params, target, options)
    }
    const found = await reader.findPointersMany(pieces, { complete: true })
    for (const id of pieces) assert.deepEqual(found.get(id)?.map(r => r.holder), [holder.id])
    // 48 pieces are 3 batches for every replica; the dead one is sent the first only.
    assert.deepEqual(toVictim, ['BATCHAIN_FIND_POINTERS_MANY'])
  })
})

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { DhtJoinError } from '../../src/core/errors.js'
import type { PieceId } from '../../src/core/ids.js'
import { signPointer } from '../../src/crypto/pointer.js'
import type { DhtKey } from '../../src/dht/index.js'
import { bruteForceClosest, startDhtNetwork, startDhtNode, type DhtNetwork, type DhtNode } from '../helpers/dht.js'
import { freePort } from '../helpers/ports.js'
import { tempDir, type TempDir } from '../helpers/tmp.js'
import { sleep } from '../../src/core/abort.js'

/**
 * Restarts: routing tables and held records persist in the data dir; a node that comes back on a
 * new port rejoins through the peers it remembers (its seed being down) and is found by id.
 */

describe('DHT restarts and seeds', () => {
  let tmp: TempDir
  let net: DhtNetwork
  before(async () => {
    tmp = await tempDir('dht-persist')
    net = await startDhtNetwork(20, { dataRoot: tmp.dir })
  })
  after(async () => {
    await net?.stop()
    await tmp?.[Symbol.asyncDispose]()
  })

  /** Restarts `node` (same identity and data dir) on a new port, replacing it in the network. */
  async function restart (node: DhtNode, options: Parameters<typeof startDhtNode>[0]): Promise<DhtNode> {
    await node.dht.stop()
    const again = await startDhtNode(options, node.dataDir, node.identity)
    net.nodes[net.nodes.indexOf(node)] = again
    return again
  }

  test('the routing table is saved to the data dir', async () => {
    const node = net.nodes[4]!
    await node.dht.stop()
    const saved = JSON.parse(await readFile(join(node.dataDir!, 'peers.json'), 'utf8')) as { peers: unknown[] }
    assert.ok(saved.peers.length >= node.dht.peers().length - 1 && saved.peers.length > 0)
    net.nodes[4] = await startDhtNode({ role: 'storage' }, node.dataDir, node.identity)
    await net.nodes[4].dht.join([net.nodes[0]!.dht.address()])
  })

  test('a restarted node on a new port rejoins through remembered peers while its seed is down, and is found by id', async () => {
    const seed = net.nodes[0]!
    const seedAddress = seed.dht.address()
    const node = net.nodes[7]!
    const oldPort = node.dht.address().port
    await seed.dht.stop() // the seed is down for the rest of this test
    try {
      const port = await freePort()
      const again = await restart(node, { role: 'storage', port })
      assert.notEqual(again.dht.address().port, oldPort)
      const { contacted } = await again.dht.join([seedAddress])
      assert.ok(contacted > 0, 'remembered peers answered although the seed is down')
      assert.ok(again.dht.peers().length > 0)

      // Others find it by id at its new address (contact record / refreshed contact), confirmed by INFO.
      for (const finder of [net.nodes[2]!, net.nodes[12]!, net.nodes[19]!]) {
        const info = await finder.dht.findNode(again.dht.nodeId)
        assert.ok(info !== undefined, 'found')
        assert.equal(info.nodeId, again.dht.nodeId)
        assert.equal(info.dht.port, port)
      }
      const alive = net.nodes.filter(n => n !== seed)
      const key = randomBytes(20).toString('hex') as Parameters<typeof again.dht.closest>[0]
      const result = await again.dht.closest(key)
      assert.deepEqual(result.peers.map(p => p.key), bruteForceClosest(alive, key, 20, again.dht.key))
    } finally {
      net.nodes[0] = await startDhtNode({ role: 'bootstrap', port: seedAddress.port }, seed.dataDir, seed.identity)
      await net.nodes[0].dht.join([net.nodes[1]!.dht.address()])
    }
  })

  test('a node is found by id through its contact record while only stale contacts for it linger', async () => {
    const node = net.nodes[9]!
    const oldAddress = node.dht.address()
    const again = await restart(node, { role: 'storage' })
    await again.dht.join([net.nodes[1]!.dht.address()])
    assert.notEqual(again.dht.address().port, oldAddress.port)
    // Put the stale address back into every routing table (as if nobody had heard from the node since),
    // so that no lookup can reach the node itself: only its contact record says where it is now.
    const others = net.nodes.filter(n => n !== again)
    for (const other of others) {
      const router = (other.dht as unknown as { kad: { router: { addContactByNodeId: (k: string, c: unknown) => void, getContactByNodeId: (k: string) => unknown } } }).kad.router
      const current = router.getContactByNodeId(again.dht.key) as { hostname: string, port: number } | undefined
      router.addContactByNodeId(again.dht.key, { ...(current ?? { pub: again.identity.publicKey.toString('base64url'), role: 'storage' }), hostname: oldAddress.host, port: oldAddress.port })
    }
    for (const finder of [others[2]!, others[12]!, others[17]!]) {
      const info = await finder.dht.findNode(again.dht.nodeId)
      assert.equal(info?.nodeId, again.dht.nodeId)
      assert.equal(info?.dht.port, again.dht.address().port)
    }
  })

  test('pointer records held for others survive a restart; expired ones are dropped at load', async () => {
    const holder = net.nodes[3]!
    const pieceId = randomBytes(32).toString('hex') as PieceId
    const shortPiece = randomBytes(32).toString('hex') as PieceId
    const record = signPointer(holder.identity, pieceId, { ttlMs: 3_600_000 })
    const short = signPointer(holder.identity, shortPiece, { ttlMs: 1500 })
    const published = await holder.dht.publishPointers([record, short])
    assert.deepEqual(published, { stored: 2, failed: 0 })

    // One of the nodes that keeps the record, restarted alone (no join): it still serves it.
    // Chosen among the nodes that really hold it (peeking at the in-memory store), not among the
    // closest by brute force: an earlier test leaves one node behind a stale address in every routing
    // table, so a closest node can be one the publish never reached.
    const holds = (n: typeof holder): boolean =>
      (n.dht as unknown as { pointers: { get: (id: PieceId) => unknown[] } }).pointers.get(pieceId).length > 0
    const keeper = net.nodes.find(n => n !== holder && n.dht.role === 'storage' && n.dataDir !== undefined && holds(n))
    assert.ok(keeper !== undefined, 'some storage node other than the publisher holds the record')
    await keeper.dht.stop()
    const saved = JSON.parse(await readFile(join(keeper.dataDir!, 'pointers.json'), 'utf8')) as { records: Array<{ pieceId: string }> }
    assert.ok(saved.records.some(r => r.pieceId === pieceId))
    await new Promise(resolve => setTimeout(resolve, 1600)) // let the short record expire
    const lonely = await startDhtNode({ role: 'storage' }, keeper.dataDir, keeper.identity)
    try {
      const found = await lonely.dht.findPointers(pieceId)
      assert.deepEqual(found, [record])
      assert.deepEqual(await lonely.dht.findPointers(shortPiece), [], 'expired record not loaded')
    } finally {
      await lonely.dht.stop()
    }
    const back = await startDhtNode({ role: 'storage' }, keeper.dataDir, keeper.identity)
    net.nodes[net.nodes.indexOf(keeper)] = back
    await back.dht.join([]) // through the peers it remembers alone
    // And through the network, from anyone:
    assert.deepEqual(await net.nodes[11]!.dht.findPointers(pieceId), [record])
  })

  test('a bootstrap that is down is skipped while another is up; all seeds down is a DhtJoinError', async () => {
    const down = await startDhtNode({ role: 'bootstrap' })
    const downAddress = down.dht.address()
    await down.dht.stop()
    const up = net.nodes[1]!.dht.address()
    const newcomer = await startDhtNode({ role: 'storage' })
    try {
      const { contacted } = await newcomer.dht.join([downAddress, up])
      assert.equal(contacted, 1)
      assert.ok(newcomer.dht.peers().length > 5, `peers: ${newcomer.dht.peers().length}`)
    } finally {
      await newcomer.dht.stop()
    }
    const stranded = await startDhtNode({ role: 'storage' })
    try {
      await assert.rejects(stranded.dht.join([downAddress]), (err: unknown) => err instanceof DhtJoinError && err.code === 'BATCHAIN_ERR_DHT_JOIN')
      await assert.rejects(stranded.dht.join([]), DhtJoinError)
    } finally {
      await stranded.dht.stop()
    }
  })
  test('a client whose every peer stopped answering finds the network again through its seed once it is back', async () => {
    const small = await startDhtNetwork(4, { dataRoot: join(tmp.dir, 'reseed') })
    const client = await startDhtNode({ role: 'client' })
    try {
      const seed = small.nodes[0]!.dht.address()
      await client.dht.join([seed])
      // Answers enter the routing table through kadence's update queue, a moment after the lookup.
      await client.dht.closest(client.dht.key)
      for (let i = 0; i < 50 && client.dht.peers().length < 4; i++) await sleep(100)
      assert.equal(client.dht.peers().length, 4, 'the client knows every node')
      // Everyone stops: the client's next search times out on each peer (its INFO at the latest)
      // and evicts it.
      const addresses = small.nodes.map(n => n.dht.address())
      await small.stop()
      const during = await client.dht.storageNodesNear(randomBytes(20).toString('hex') as DhtKey, { count: 3 })
      assert.deepEqual(during, [])
      assert.equal(client.dht.peers().length, 0, 'every peer evicted')
      // They come back on the same addresses (the seed first, the others joining through it).
      const facts = (i: number) => () => ({ piece: { host: '127.0.0.1', port: 2000 + i }, capacity: 1e9, free: 1e9, reachability: 'direct' as const })
      const back: DhtNode[] = []
      for (const [i, node] of small.nodes.entries()) {
        const again = await startDhtNode({ role: node.dht.role, port: addresses[i]!.port, ...(i === 0 ? {} : { facts: facts(i) }) }, node.dataDir, node.identity)
        back.push(again)
        if (i > 0) await again.dht.join([seed])
      }
      try {
        // Nothing in its table: it asks the seed it joined through again, and finds the storage nodes.
        const near = await client.dht.storageNodesNear(randomBytes(20).toString('hex') as DhtKey, { count: 3 })
        assert.deepEqual(near.map(i => i.nodeId).sort(), back.slice(1).map(n => n.identity.id).sort())
        for (let i = 0; i < 50 && client.dht.peers().length < 4; i++) await sleep(100)
        assert.equal(client.dht.peers().length, 4, 'the routing table is filled again')
      } finally {
        await Promise.all(back.map(async n => { await n.dht.stop() }))
      }
    } finally {
      await client.dht.stop()
      await small.stop()
    }
  })
})

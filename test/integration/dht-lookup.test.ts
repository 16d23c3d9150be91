import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import type { DhtKey } from '../../src/dht/index.js'
import { bruteForceClosest, startDhtNetwork, startDhtNode, type DhtNetwork, type DhtNode } from '../helpers/dht.js'

/**
 * A 100-node in-process network on loopback (real kadence nodes on real UDP sockets): lookups
 * converge to the true closest nodes, clients stay out of routing tables, offline peers are evicted.
 */

const randomKey = (): DhtKey => randomBytes(20).toString('hex') as DhtKey

describe('DHT lookups in a 100-node network', () => {
  let net: DhtNetwork
  before(async () => { net = await startDhtNetwork(100) })
  after(async () => { await net?.stop() })

  test('closest() from several nodes returns exactly the true K closest (brute force)', async () => {
    const askers = [1, 17, 42, 63, 99].map(i => net.nodes[i]!)
    for (const asker of askers) {
      for (let i = 0; i < 4; i++) {
        const key = i === 0 ? net.nodes[(askers.indexOf(asker) * 7 + 3) % 100]!.dht.key : randomKey()
        const result = await asker.dht.closest(key)
        const truth = bruteForceClosest(net.nodes, key, 20, asker.dht.key)
        assert.deepEqual(result.peers.map(p => p.key), truth, `lookup of ${key} from ${asker.dht.key}`)
        assert.ok(result.hops >= 1 && result.hops <= result.queried, `hops ${result.hops}, queried ${result.queried}`)
      }
    }
  })

  test('closest() honours count and reports real addresses', async () => {
    const key = randomKey()
    const result = await net.nodes[5]!.dht.closest(key, { count: 5 })
    assert.deepEqual(result.peers.map(p => p.key), bruteForceClosest(net.nodes, key, 5, net.nodes[5]!.dht.key))
    for (const peer of result.peers) {
      const node = net.nodes.find(n => n.dht.key === peer.key)!
      assert.deepEqual({ host: peer.host, port: peer.port }, node.dht.address())
    }
  })

  test('storageNodesNear: verified storage nodes only, closest first, exclusions honoured', async () => {
    const key = randomKey()
    const asker = net.nodes[10]!
    const near = await asker.dht.storageNodesNear(key, { count: 8 })
    const bootstrap = net.nodes[0]!.dht.nodeId
    const truth = bruteForceClosest(net.nodes.filter(n => n.dht.role === 'storage'), key, 8)
    assert.deepEqual(near.map(i => i.nodeId.slice(0, 40)), truth)
    assert.ok(near.every(i => i.role === 'storage' && i.piece !== undefined && i.nodeId !== bootstrap))
    const exclude = new Set([near[0]!.nodeId, near[1]!.nodeId])
    const rest = await asker.dht.storageNodesNear(key, { count: 6, exclude })
    assert.deepEqual(rest.map(i => i.nodeId), near.slice(2).map(i => i.nodeId))
    const none = await asker.dht.storageNodesNear(key, { count: 3, minFree: 2e9 })
    assert.deepEqual(none, [], 'nobody has 2 GB free')
  })

  test('a client queries everything but ends up in no routing table', async () => {
    const client = await startDhtNode({ role: 'client' })
    try {
      const { contacted } = await client.dht.join([net.nodes[0]!.dht.address(), net.nodes[50]!.dht.address()])
      assert.equal(contacted, 2)
      for (let i = 0; i < 5; i++) {
        const key = randomKey()
        const result = await client.dht.closest(key)
        assert.deepEqual(result.peers.map(p => p.key), bruteForceClosest(net.nodes, key, 20))
      }
      const target = net.nodes[33]!
      const found = await client.dht.findNode(target.dht.nodeId)
      assert.equal(found?.dht.port, target.dht.address().port)
      assert.ok(client.dht.peers().length > 0, 'the client routes through servers')
      const holding = net.nodes.filter(n => n.dht.peers().some(p => p.key === client.dht.key))
      assert.deepEqual(holding.map(n => n.dht.key), [], 'no server holds the client')
      // Servers learn only servers from each other: no client anywhere in a FIND_NODE answer either.
      const around = await net.nodes[3]!.dht.closest(client.dht.key)
      assert.ok(!around.peers.some(p => p.key === client.dht.key))
    } finally {
      await client.dht.stop()
    }
  })

  test('a peer that went offline is evicted from the routing tables that try it', async () => {
    const victim: DhtNode = net.nodes[77]!
    const watchers = net.nodes.filter(n => n !== victim && n.dht.peers().some(p => p.key === victim.dht.key)).slice(0, 3)
    assert.ok(watchers.length > 0, 'somebody knows the victim')
    await victim.dht.stop()
    for (const watcher of watchers) {
      // A lookup of the victim's own key asks the victim first of all: it times out and is dropped.
      const result = await watcher.dht.closest(victim.dht.key)
      assert.ok(!result.peers.some(p => p.key === victim.dht.key), 'not returned')
      assert.ok(!watcher.dht.peers().some(p => p.key === victim.dht.key), 'evicted')
      const alive = net.nodes.filter(n => n !== victim)
      assert.deepEqual(result.peers.map(p => p.key), bruteForceClosest(alive, victim.dht.key, 20, watcher.dht.key))
    }
    // storageNodesNear skips it too (and evicts it where it still lingers).
    const near = await net.nodes[2]!.dht.storageNodesNear(victim.dht.key, { count: 5 })
    assert.ok(!near.some(i => i.nodeId === victim.dht.nodeId))
  })
})

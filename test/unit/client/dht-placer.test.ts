import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { MiB } from '../../../src/core/constants.js'
import type { NodeId, PieceId } from '../../../src/core/ids.js'
import { createLogger } from '../../../src/core/logger.js'
import { generateIdentity, type Identity } from '../../../src/crypto/keys.js'
import { pieceIdOf } from '../../../src/crypto/merkle.js'
import { checkPointer } from '../../../src/crypto/pointer.js'
import { DhtPlacer, assign } from '../../../src/client/dht-placer.js'
import type { Dht, NearOptions, NodeInfo } from '../../../src/dht/types.js'
import { createMemoryStore, type PieceStore } from '../../../src/store/index.js'
import { PieceClient, createPieceServer, type PieceServer } from '../../../src/transfer/index.js'

/**
 * DhtPlacer's own logic (candidate assignment, zones, replacement, hedging) over real piece servers
 * on loopback. The Dht is an in-process stand-in answering storageNodesNear from a fixed node list
 * by XOR distance — the real lookup is tested in test/integration/dht-*.test.ts.
 */

interface TestNode { identity: Identity, server: PieceServer, store: PieceStore, zone?: string }

function info (node: TestNode): NodeInfo {
  const address = node.server.address()
  const stats = node.store.stats()
  return {
    nodeId: node.identity.id,
    publicKey: node.identity.publicKey.toString('base64url'),
    role: 'storage',
    dht: { host: '127.0.0.1', port: 1 },
    piece: address,
    capacity: stats.capacity,
    free: stats.free,
    version: 'test',
    protocolVersion: 1,
    ...(node.zone === undefined ? {} : { zone: node.zone }),
    reachability: 'direct',
    issuedAt: Date.now(),
    signature: ''
  }
}

function distance (a: string, b: string): bigint {
  return BigInt(`0x${a.slice(0, 40)}`) ^ BigInt(`0x${b.slice(0, 40)}`)
}

function fakeDht (nodes: () => TestNode[]): Dht {
  const unused = (): never => { throw new Error('not used by the placer') }
  return {
    role: 'client',
    nodeId: generateIdentity().id,
    key: '0'.repeat(40) as never,
    address: () => ({ host: '127.0.0.1', port: 0 }),
    join: unused,
    closest: unused,
    storageNodesNear: async (key: string, options: NearOptions) => nodes()
      .map(info)
      .filter(i => options.exclude?.has(i.nodeId) !== true && i.free >= (options.minFree ?? 1))
      .sort((a, b) => { const d = distance(a.nodeId, key) - distance(b.nodeId, key); return d < 0n ? -1 : d > 0n ? 1 : 0 })
      .slice(0, options.count),
    info: unused,
    findNode: unused,
    publishPointers: unused,
    findPointers: unused,
    findPointersMany: unused,
    peers: () => [],
    stop: async () => {}
  }
}

/** A store whose puts wait `ms` before reading the body: a straggler. */
function slowStore (ms: number): PieceStore {
  const inner = createMemoryStore({ capacity: 64 * MiB })
  return new Proxy(inner, {
    get (target, prop, receiver) {
      if (prop === 'put') {
        return async (...args: Parameters<PieceStore['put']>) => {
          await new Promise(resolve => setTimeout(resolve, ms))
          return await target.put(...args)
        }
      }
      const value = Reflect.get(target, prop, receiver) as unknown
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    }
  })
}

function segmentPieces (n: number, size = 64 * 1024): Array<{ id: PieceId, data: Buffer }> {
  return Array.from({ length: n }, () => {
    const data = randomBytes(size)
    return { id: pieceIdOf(data), data }
  })
}

describe('assign', () => {
  const c = (id: string, zone?: string): { info: { nodeId: NodeId, zone?: string } } => ({ info: { nodeId: id as NodeId, ...(zone === undefined ? {} : { zone }) } })

  test('each piece gets its closest candidate not taken by an earlier piece', () => {
    const [a, b, d] = [c('a'), c('b'), c('d')]
    const out = assign([[a, b, d], [a, b, d], [b, d]])
    assert.deepEqual(out.map(o => o.primary?.info.nodeId), ['a', 'b', 'd'])
    assert.deepEqual(out[1]?.spares.map(s => s.info.nodeId), ['a', 'd'])
  })

  test('a fresh zone wins over a closer node in a used zone, until zones run out', () => {
    const [a, b, d, e] = [c('a', 'z1'), c('b', 'z1'), c('d', 'z2'), c('e', 'z2')]
    const out = assign([[a, b, d, e], [b, d, e], [b, e]])
    assert.deepEqual(out.map(o => o.primary?.info.nodeId), ['a', 'd', 'b'])
  })

  test('data shards go to the least-loaded of the piece\'s n closest free candidates, closest first on ties; parity stays closest', () => {
    const [a, b, d, e] = [c('a'), c('b'), c('d'), c('e')]
    const load = new Map([['a', 5], ['b', 1], ['d', 1], ['e', 0]])
    const out = assign([[a, b, d, e], [a, b, d, e], [a, b, d, e]], { dataShards: 2, dataLoad: id => load.get(id) ?? 0 })
    // Piece 0 looks at its 3 closest (a, b, d): b and d tie, b is closer. Piece 1 at a, d, e: e.
    // The parity piece takes the closest left: a.
    assert.deepEqual(out.map(o => o.primary?.info.nodeId), ['b', 'e', 'a'])
  })

  test('over many segments with random distances, every node serves its share of data shards (±1)', () => {
    const ids = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5']
    const load = new Map<string, number>()
    for (let segment = 0; segment < 128; segment++) {
      const lists = Array.from({ length: 6 }, () => [...ids].sort(() => Math.random() - 0.5).map(id => c(id)))
      const out = assign(lists, { dataShards: 4, dataLoad: id => load.get(id) ?? 0 })
      for (const o of out.slice(0, 4)) load.set(o.primary!.info.nodeId, (load.get(o.primary!.info.nodeId) ?? 0) + 1)
      assert.equal(new Set(out.map(o => o.primary?.info.nodeId)).size, 6, 'distinct nodes within a segment')
    }
    const counts = ids.map(id => load.get(id) ?? 0)
    assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `data shards per node: ${counts.join(', ')}`)
  })

  test('a piece with no free candidate gets none (the placer borrows from the segment pool)', () => {
    const a = c('a')
    assert.equal(assign([[a], [a]])[1]?.primary, undefined)
  })
})

describe('DhtPlacer over real piece servers', () => {
  const uploader = generateIdentity()
  const client = new PieceClient({ identity: uploader })
  const nodes: TestNode[] = []
  const log = createLogger('test-placer')

  async function addNode (store: PieceStore, zone?: string): Promise<TestNode> {
    const identity = generateIdentity()
    const server = createPieceServer({ store, identity, pointerTtlMs: 60_000 })
    await server.start()
    const node = { identity, server, store, ...(zone === undefined ? {} : { zone }) }
    nodes.push(node)
    return node
  }

  before(async () => {
    for (let i = 0; i < 9; i++) await addNode(createMemoryStore({ capacity: 64 * MiB }), `zone-${i % 3}`)
  })
  after(async () => {
    client.close()
    await Promise.all(nodes.map(async n => await n.server.stop().catch(() => {})))
  })

  test('a segment lands on distinct nodes, with valid pointer records from each holder', async () => {
    const placer = new DhtPlacer(fakeDht(() => nodes), client, log)
    const pieces = segmentPieces(6)
    const placed = await placer.place(0, pieces)
    assert.equal(new Set(placed.map(p => p.node.nodeId)).size, 6)
    for (const [j, p] of placed.entries()) {
      assert.equal(p.id, pieces[j]?.id)
      assert.ok(p.pointer !== undefined)
      assert.deepEqual(checkPointer(p.pointer), { ok: true })
      assert.equal(p.pointer.holder, p.node.nodeId)
      const holder = nodes.find(n => n.identity.id === p.node.nodeId) as TestNode
      assert.equal(await holder.store.has(p.id), true)
    }
  })

  test('zones: three pieces over three zones use all three', async () => {
    const placer = new DhtPlacer(fakeDht(() => nodes), client, log)
    const placed = await placer.place(1, segmentPieces(3))
    const zones = placed.map(p => nodes.find(n => n.identity.id === p.node.nodeId)?.zone)
    assert.equal(new Set(zones).size, 3)
  })

  test('a dead candidate is replaced and avoided; the failure is reported', async () => {
    const dead = await addNode(createMemoryStore({ capacity: 64 * MiB }))
    await dead.server.stop()
    const placer = new DhtPlacer(fakeDht(() => nodes), client, log)
    // Enough pieces that the dead node is among every piece's candidates.
    const placed = await placer.place(2, segmentPieces(8))
    assert.ok(placed.every(p => p.node.nodeId !== dead.identity.id))
    assert.equal(new Set(placed.map(p => p.node.nodeId)).size, 8)
    assert.ok(placer.failures.length >= 1)
    assert.equal(placer.isDead(dead.identity.id), true)
    nodes.splice(nodes.indexOf(dead), 1)
  })

  test('not enough live nodes for a segment fails clearly', async () => {
    const placer = new DhtPlacer(fakeDht(() => nodes.slice(0, 3)), client, log)
    await assert.rejects(placer.place(3, segmentPieces(4)), (err: Error & { code?: string }) => err.code === 'BATCHAIN_ERR_NOT_ENOUGH_NODES')
  })

  test('a straggler is hedged onto a spare: the first copy to finish is kept', async () => {
    const slow = await addNode(slowStore(5_000))
    // Only the slow node and the fast ones: make the slow node some piece's primary by offering
    // it first for every piece.
    const dht = fakeDht(() => nodes)
    const original = dht.storageNodesNear
    dht.storageNodesNear = async (key, options) => {
      const list = await original(key, options)
      const s = list.find(i => i.nodeId === slow.identity.id)
      return s === undefined ? list : [s, ...list.filter(i => i !== s)]
    }
    const placer = new DhtPlacer(dht, client, log, { hedgeFactor: 2, hedgeMinMs: 50 })
    const placed = await placer.place(4, segmentPieces(4))
    assert.equal(new Set(placed.map(p => p.node.nodeId)).size, 4)
    assert.ok(placed.every(p => p.node.nodeId !== slow.identity.id), 'the straggler lost the race')
    assert.equal(placer.failures.length, 0, 'a cancelled straggler is not a failure')
    nodes.splice(nodes.indexOf(slow), 1)
    await slow.server.stop({ grace: 0 })
  })
})

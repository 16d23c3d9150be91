import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
import { after, before, describe, test } from 'node:test'
import { DhtRpcError } from '../../src/core/errors.js'
import type { PieceId } from '../../src/core/ids.js'
import { silentLogger } from '../../src/core/logger.js'
import { generateIdentity } from '../../src/crypto/keys.js'
import { signPointer, type PointerRecord } from '../../src/crypto/pointer.js'
import { BatKadNode } from '../../src/dht/kadence-node.js'
import { dhtKeyOf } from '../../src/dht/keys.js'
import { signNodeInfo } from '../../src/dht/node-info.js'
import { MAX_POINTERS_PER_RPC, RPC } from '../../src/dht/plugin.js'
import type { DhtAddress } from '../../src/dht/types.js'
import { bruteForceClosest, startDhtNetwork, type DhtNetwork } from '../helpers/dht.js'

/**
 * Bad input over real UDP sockets: garbage datagrams, schema-invalid params to each of our RPCs,
 * forged pointer and contact records. Every bad request gets a JSON-RPC error (never a crash), and
 * the node keeps serving everyone else.
 */

/** Sends one raw datagram and returns the first answer (or undefined after a bounded wait). */
async function rawExchange (socket: Socket, to: DhtAddress, payload: Buffer | string): Promise<unknown> {
  return await new Promise(resolve => {
    const timer = setTimeout(() => { socket.off('message', onMessage); resolve(undefined) }, 2000)
    const onMessage = (msg: Buffer): void => {
      clearTimeout(timer)
      socket.off('message', onMessage)
      resolve(JSON.parse(msg.toString('utf8')) as unknown)
    }
    socket.on('message', onMessage)
    socket.send(typeof payload === 'string' ? Buffer.from(payload) : payload, to.port, to.host)
  })
}

describe('DHT bad input', () => {
  let net: DhtNetwork
  let attacker: BatKadNode
  let socket: Socket
  const pieceId = randomBytes(32).toString('hex') as PieceId

  before(async () => {
    net = await startDhtNetwork(12)
    const id = generateIdentity()
    // A raw KadNode of our own (client role, so nobody routes to it) to send schema-invalid params.
    attacker = await BatKadNode.start({ key: dhtKeyOf(id.id), publicKey: id.publicKey.toString('base64url'), role: 'client', host: '127.0.0.1', port: 0, rpcTimeoutMs: 2000, logger: silentLogger() })
    socket = createSocket('udp4')
    await new Promise<void>(resolve => { socket.bind(0, '127.0.0.1', resolve) })
  })
  after(async () => {
    socket?.close()
    await attacker?.close()
    await net?.stop()
  })

  const victim = (): DhtAddress => net.nodes[5]!.dht.address()
  const stillServes = async (): Promise<void> => {
    const asker = net.nodes[8]!
    const info = await asker.dht.info(victim())
    assert.equal(info.nodeId, net.nodes[5]!.dht.nodeId)
    const key = randomBytes(20).toString('hex') as Parameters<typeof asker.dht.closest>[0]
    const result = await asker.dht.closest(key)
    assert.deepEqual(result.peers.map(p => p.key), bruteForceClosest(net.nodes, key, 20, asker.dht.key))
  }

  test('garbage datagrams get JSON-RPC errors and the node keeps serving', async () => {
    const garbage: Array<[string, Buffer | string, number]> = [
      ['random bytes', randomBytes(300), -32700],
      ['truncated JSON', '[{"jsonrpc":"2.0",', -32700],
      ['a bare request without IDENTIFY (crashes a stock kadence node)', '{"jsonrpc":"2.0","id":"a","method":"PING","params":[]}', -32600],
      ['request without IDENTIFY in an array', '[{"jsonrpc":"2.0","id":"b","method":"PING","params":[]}]', -32600],
      ['IDENTIFY with a bad contact', '[{"jsonrpc":"2.0","id":"c","method":"PING","params":[]},{"jsonrpc":"2.0","method":"IDENTIFY","params":["00",{"hostname":"x"}]}]', -32600],
      ['not JSON-RPC', '[{"x":1},{"y":2}]', -32600],
      ['JSON null', 'null', -32600],
      ['empty datagram', Buffer.alloc(0), -32700]
    ]
    for (const [name, payload, code] of garbage) {
      const answer = await rawExchange(socket, victim(), payload) as Array<{ error?: { code: number, data?: { code?: string } } }> | undefined
      assert.ok(Array.isArray(answer), `${name}: answered`)
      assert.equal(answer[0]?.error?.code, code, name)
      assert.equal(answer[0]?.error?.data?.code, 'BATCHAIN_ERR_DHT_BAD_REQUEST', name)
    }
    await stillServes()
  })

  test('schema-invalid params to each RPC are refused with -32602 / BATCHAIN_ERR_DHT_BAD_REQUEST', async () => {
    const record = signPointer(generateIdentity(), pieceId, { ttlMs: 60_000 })
    const cases: Array<[string, unknown]> = [
      [RPC.INFO, ['extra']],
      [RPC.INFO, { a: 1 }],
      [RPC.STORE_POINTERS, []],
      [RPC.STORE_POINTERS, [[]]],
      [RPC.STORE_POINTERS, ['not a list']],
      [RPC.STORE_POINTERS, [Array.from({ length: MAX_POINTERS_PER_RPC + 1 }, () => record)]],
      [RPC.FIND_POINTERS, []],
      [RPC.FIND_POINTERS, ['zz']],
      [RPC.FIND_POINTERS, [pieceId.toUpperCase()]],
      [RPC.FIND_POINTERS, [pieceId, 'nearer']],
      [RPC.FIND_POINTERS, [pieceId, 'closer', 'extra']],
      [RPC.FIND_POINTERS_MANY, []],
      [RPC.FIND_POINTERS_MANY, [[]]],
      [RPC.FIND_POINTERS_MANY, [pieceId]],
      [RPC.FIND_POINTERS_MANY, [[pieceId, 'zz']]],
      [RPC.FIND_POINTERS_MANY, [Array.from({ length: 17 }, () => pieceId)]],
      [RPC.FIND_POINTERS_MANY, [[pieceId], 'extra']],
      [RPC.STORE_CONTACT, [1]],
      [RPC.STORE_CONTACT, []],
      [RPC.FIND_CONTACT, [123]],
      [RPC.FIND_CONTACT, ['../../etc']],
      ['FIND_NODE', ['not a key']],
      ['FIND_NODE', []]
    ]
    for (const [method, params] of cases) {
      await assert.rejects(attacker.request(method, params, victim()), (err: unknown) => {
        assert.ok(err instanceof DhtRpcError, `${method} ${JSON.stringify(params).slice(0, 60)}: ${String(err)}`)
        assert.deepEqual(err.details, { rpcCode: -32602, remoteCode: 'BATCHAIN_ERR_DHT_BAD_REQUEST' }, `${method} ${JSON.stringify(params).slice(0, 60)}`)
        return true
      })
    }
    for (const method of ['STORE', 'FIND_VALUE', 'NO_SUCH_METHOD']) {
      await assert.rejects(attacker.request(method, ['a'.repeat(40), { value: 1 }], victim()), (err: unknown) =>
        err instanceof DhtRpcError && (err.details as { rpcCode?: number }).rpcCode === -32601)
    }
    await stillServes()
  })

  test('forged pointer records are refused by STORE_POINTERS or, a bad signature, dropped before anything is served; good ones in the same batch kept', async () => {
    const holder = generateIdentity()
    const good = signPointer(holder, pieceId, { ttlMs: 60_000 })
    const sig = Buffer.from(good.signature, 'base64url')
    sig[0] = (sig[0] as number) ^ 1
    const badSignature = { ...good, signature: sig.toString('base64url') }
    const wrongHolder = { ...signPointer(generateIdentity(), pieceId, { ttlMs: 60_000 }), holder: generateIdentity().id } // holder ≠ hash(publicKey)
    const expired = signPointer(holder, pieceId, { ttlMs: 1000, now: Date.now() - 5000 })
    const { result } = await attacker.request(RPC.STORE_POINTERS, [[badSignature, wrongHolder, expired, good, { junk: true }]], victim())
    // Shape, holder binding and lifetime are checked at once; a holder's first record for a piece
    // is kept with its signature unchecked (accepted), and checked before it is first served.
    assert.deepEqual(result, ['accepted', 'invalid', 'invalid', 'accepted', 'invalid'])
    const { result: many } = await attacker.request(RPC.FIND_POINTERS_MANY, [[pieceId]], victim())
    assert.deepEqual(many, [[good]], 'the bad signature is never served')
    const { result: held } = await attacker.request(RPC.FIND_POINTERS, [pieceId], victim())
    assert.deepEqual(held, [good])
    // The real record's holder publishing again is a replacement: checked first, and a forged
    // "newer" one is refused.
    const newerForgery = { ...signPointer(holder, pieceId, { ttlMs: 60_000, now: Date.now() + 1000 }), signature: badSignature.signature }
    const { result: again } = await attacker.request(RPC.STORE_POINTERS, [[newerForgery]], victim())
    assert.deepEqual(again, ['invalid'])
    // The FIND_VALUE form: the records when the node has some, else closer contacts (never the asker itself).
    const { result: withRecords } = await attacker.request(RPC.FIND_POINTERS, [pieceId, 'closer'], victim())
    assert.deepEqual(withRecords, { records: [good], contacts: [] })
    const { result: withContacts } = await attacker.request(RPC.FIND_POINTERS, [randomBytes(32).toString('hex'), 'closer'], victim())
    const answer = withContacts as { records: unknown[], contacts: Array<[string, unknown]> }
    assert.deepEqual(answer.records, [])
    assert.ok(answer.contacts.length > 0, 'a node that knows peers names some')
    assert.ok(answer.contacts.every(c => typeof c[0] === 'string' && c[0] !== attacker.key), 'the asker is not handed back to itself')
  })

  test('forged contact records are refused by STORE_CONTACT', async () => {
    const id = generateIdentity()
    const info = signNodeInfo(id, { role: 'storage', dht: { host: '127.0.0.1', port: 9 }, facts: { capacity: 1, free: 1, reachability: 'direct' }, version: 'x', protocolVersion: 1 })
    const { result: forged } = await attacker.request(RPC.STORE_CONTACT, [{ ...info, dht: { host: '127.0.0.1', port: 10 } }], victim())
    assert.equal(forged, 'invalid')
    const { result: stolen } = await attacker.request(RPC.STORE_CONTACT, [{ ...info, nodeId: net.nodes[3]!.dht.nodeId }], victim())
    assert.equal(stolen, 'invalid')
    const { result: ok } = await attacker.request(RPC.STORE_CONTACT, [info], victim())
    assert.equal(ok, 'stored')
  })

  test('findPointers ignores forged records served by a lying node', async () => {
    const holder = net.nodes[2]!
    const piece = randomBytes(32).toString('hex') as PieceId
    const genuine = signPointer(holder.identity, piece, { ttlMs: 60_000 })
    assert.deepEqual(await holder.dht.publishPointers([genuine]), { stored: 1, failed: 0 })
    // Every other node turns liar: its store (bypassing the checks) serves forgeries for the piece.
    const stranger = generateIdentity()
    const signedByStranger = signPointer(stranger, piece, { ttlMs: 60_000 })
    const forgeries: unknown[] = [
      { ...signedByStranger, holder: holder.identity.id }, // claims the real holder, signed by someone else
      { ...genuine, issuedAt: genuine.issuedAt + 10 }, // newer, but the signature no longer matches
      { ...signPointer(stranger, randomBytes(32).toString('hex') as PieceId, { ttlMs: 60_000 }), pieceId: piece },
      signPointer(stranger, randomBytes(32).toString('hex') as PieceId, { ttlMs: 60_000 }), // valid, but for another piece
      'garbage'
    ]
    for (const liar of net.nodes.filter(n => n !== holder)) {
      const pieces = (liar.dht as unknown as { pointers: { pieces: Map<string, Map<string, unknown>> } }).pointers.pieces
      const entries = pieces.get(piece) ?? new Map<string, unknown>()
      forgeries.forEach((f, i) => entries.set(`forged-${i}`, f))
      pieces.set(piece, entries)
    }
    const asker = net.nodes[10]!
    const found: PointerRecord[] = await asker.dht.findPointers(piece)
    assert.deepEqual(found, [genuine])
    await stillServes()
  })
})

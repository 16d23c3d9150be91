import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { MiB, KiB, PROTOCOL_VERSION } from '../../src/core/constants.js'
import type { RemoteError } from '../../src/core/errors.js'
import type { PieceId } from '../../src/core/ids.js'
import { formatCapability } from '../../src/crypto/capability.js'
import { generateIdentity, sign } from '../../src/crypto/keys.js'
import { pieceIdOf } from '../../src/crypto/merkle.js'
import { FrameDecoder, Op, Res, encodeFrameHead, deleteSigningBytes, parseHeader, putSigningBytes, type DecoderEvent } from '../../src/protocol/index.js'
import { PeerConnection, PieceClient, parseContact, type Contact } from '../../src/transfer/index.js'
import { isCI, requirePrerequisite } from '../helpers/ci.js'
import { runCli } from '../helpers/cli.js'
import { spawnNode, stopNode, type NodeProcess } from '../helpers/nodes.js'
import { tempDir, type TempDir } from '../helpers/tmp.js'

/** Sends raw bytes on a fresh connection (after an optional handshake) and collects what comes back until close. */
async function raw (contact: Contact, bytes: Buffer, options: { handshake?: boolean, closeAfterMs?: number } = {}): Promise<DecoderEvent[]> {
  const socket: Socket = connect({ host: contact.host, port: contact.port })
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  const decoder = new FrameDecoder()
  const events: DecoderEvent[] = []
  const closed = new Promise<void>(resolve => socket.once('close', () => { resolve() }))
  socket.on('error', () => {})
  socket.on('data', (d: Buffer) => {
    decoder.push(d)
    for (let ev = decoder.read(); ev !== undefined; ev = decoder.read()) events.push(ev)
  })
  if (options.handshake !== false) socket.write(encodeFrameHead(Op.Hello, { version: PROTOCOL_VERSION, nonce: randomBytes(32) }))
  socket.write(bytes)
  const timer = setTimeout(() => socket.destroy(), options.closeAfterMs ?? 3000)
  await closed
  clearTimeout(timer)
  return events
}

function errorCodes (events: DecoderEvent[]): string[] {
  return events.flatMap(e => e.kind === 'frame' && e.frame.type === Op.Error ? [parseHeader(Op.Error, e.frame.header).code] : [])
}

describe('bad input: refused clearly, nothing lost, everyone else still served', () => {
  let tmp: TempDir
  let node: NodeProcess
  let contact: Contact
  const owner = generateIdentity()
  const client = new PieceClient({ identity: owner })
  const kept = randomBytes(300 * KiB)
  const keptId = pieceIdOf(kept)

  before(async () => {
    tmp = await tempDir('bad-input')
    node = await spawnNode('target', join(tmp.dir, 'target'), { capacity: '8MiB' })
    contact = parseContact(node.contact)
    await client.put(contact, keptId, kept)
  })

  after(async () => {
    client.close()
    await stopNode(node)
    await tmp?.[Symbol.asyncDispose]()
  })

  /** The node still answers and the piece stored at the start is intact. */
  async function assertHealthy (): Promise<void> {
    const fresh = new PieceClient()
    try {
      const { data } = await fresh.get(contact, keptId)
      assert.equal(pieceIdOf(data), keptId)
      assert.ok((await fresh.ping(contact)).rtt >= 0)
    } finally {
      fresh.close()
    }
  }

  test('garbage instead of a frame: MALFORMED_FRAME, connection closed', async () => {
    const events = await raw(contact, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
    assert.deepEqual(errorCodes(events), ['BATCHAIN_ERR_MALFORMED_FRAME'])
    await assertHealthy()
  })

  test('garbage before the handshake: refused', async () => {
    const events = await raw(contact, randomBytes(64), { handshake: false })
    assert.equal(errorCodes(events).length, 1)
    await assertHealthy()
  })

  test('oversize header and body lengths: FRAME_TOO_LARGE without allocating them', async () => {
    const head = encodeFrameHead(Op.Ping, {})
    const bigHeader = Buffer.from(head); bigHeader.writeUInt32BE(512 * MiB, 2)
    assert.deepEqual(errorCodes(await raw(contact, bigHeader)), ['BATCHAIN_ERR_FRAME_TOO_LARGE'])
    const bigBody = Buffer.from(head); bigBody.writeUInt32BE(64, 6)
    assert.deepEqual(errorCodes(await raw(contact, bigBody)), ['BATCHAIN_ERR_FRAME_TOO_LARGE'])
    await assertHealthy()
  })

  test('unknown operation: UNKNOWN_OPERATION', async () => {
    const frame = encodeFrameHead(Op.Ping, {}); frame[1] = 0x42
    assert.deepEqual(errorCodes(await raw(contact, frame)), ['BATCHAIN_ERR_UNKNOWN_OPERATION'])
    await assertHealthy()
  })

  test('a truncated frame then silence or close does not disturb the node', async () => {
    const frame = encodeFrameHead(Op.Get, { id: keptId })
    await raw(contact, frame.subarray(0, frame.length - 3), { closeAfterMs: 300 })
    await assertHealthy()
  })

  test('a response-type or DATA frame from a client is refused and the connection stays usable', async () => {
    const events = await raw(contact, Buffer.concat([encodeFrameHead(Op.Data, {}, 4), Buffer.from('abcd'), encodeFrameHead(Op.Ping, {})]), { closeAfterMs: 500 })
    assert.deepEqual(errorCodes(events), ['BATCHAIN_ERR_UNKNOWN_OPERATION'])
    assert.ok(events.some(e => e.kind === 'frame' && e.frame.type === (Op.Ping | 0x80)), 'the PING after it is answered')
  })

  test('wrong protocol version: HANDSHAKE error', async () => {
    const events = await raw(contact, encodeFrameHead(Op.Hello, { version: 99, nonce: randomBytes(32) }), { handshake: false })
    assert.deepEqual(errorCodes(events), ['BATCHAIN_ERR_HANDSHAKE'])
  })

  test('bytes that do not hash to the piece id: PIECE_HASH_MISMATCH, nothing kept', async () => {
    const data = randomBytes(100 * KiB)
    const wrongId = pieceIdOf(randomBytes(10))
    await assert.rejects(client.put(contact, wrongId, data), (err: RemoteError) => err.code === 'BATCHAIN_ERR_PIECE_HASH_MISMATCH')
    assert.deepEqual((await client.has(contact, [wrongId])).have, [false])
    // The same pooled connection keeps working after the refusal.
    assert.equal((await client.put(contact, pieceIdOf(data), data)).created, true)
    await assertHealthy()
  })

  test('a DATA body longer or shorter than the size its PUT announced: INVALID_ARGUMENT, nothing kept, the connection stays in step', async () => {
    for (const delta of [1, -1]) {
      const data = randomBytes(64 * KiB)
      const id = pieceIdOf(data)
      const put = encodeFrameHead(Op.Put, { id, size: data.length, owner: owner.publicKey, signature: sign(owner, putSigningBytes(id, data.length)) })
      const body = delta > 0 ? Buffer.concat([data, Buffer.from([7])]) : data.subarray(0, data.length - 1)
      // Sent at once, without waiting for CONTINUE, then a PING: its answer shows the node read
      // exactly the announced body and is back at a frame boundary.
      const events = await raw(contact, Buffer.concat([put, encodeFrameHead(Op.Data, {}, body.length), body, encodeFrameHead(Op.Ping, {})]), { closeAfterMs: 1500 })
      assert.deepEqual(errorCodes(events), ['BATCHAIN_ERR_INVALID_ARGUMENT'], `delta ${delta}`)
      const types = events.flatMap(e => e.kind === 'frame' ? [e.frame.type] : [])
      assert.deepEqual(types.slice(-2), [Op.Error, Res.Ping], `delta ${delta}: ${types.join(',')}`)
      assert.deepEqual((await client.has(contact, [id])).have, [false])
    }
    await assertHealthy()
  })

  test('piece ids that are not 64 lowercase hex (path traversal) are refused', async () => {
    const conn = await PeerConnection.open(contact)
    try {
      for (const id of ['../../node.key', '../' + 'a'.repeat(61), 'A'.repeat(64), 'a'.repeat(63), '']) {
        await conn.writer.writeFrame(Op.Get, { id })
        await assert.rejects(conn.response(Op.Get | 0x80), (err: RemoteError) => err.code === 'BATCHAIN_ERR_INVALID_HEADER')
      }
    } finally {
      conn.close()
    }
    await assertHealthy()
  })

  test('forged, misdirected and stale deletes are refused; the owner\'s delete works', async () => {
    const data = randomBytes(50 * KiB)
    const id = pieceIdOf(data)
    await client.put(contact, id, data)
    const target = { ...contact, nodeId: node.nodeId as never }
    // Someone else's key.
    const stranger = new PieceClient({ identity: generateIdentity() })
    await assert.rejects(stranger.delete(target, id), (err: RemoteError) => err.code === 'BATCHAIN_ERR_NOT_OWNER')
    stranger.close()
    // The owner's key, but a signature made for another node (replayed here).
    const conn = await PeerConnection.open(contact)
    try {
      const timestamp = Date.now()
      const forged = { id, owner: owner.publicKey, timestamp, signature: sign(owner, deleteSigningBytes('f'.repeat(64), id, timestamp)) }
      await conn.writer.writeFrame(Op.Delete, forged)
      await assert.rejects(conn.response(Op.Delete | 0x80), (err: RemoteError) => err.code === 'BATCHAIN_ERR_INVALID_SIGNATURE')
      const old = Date.now() - 60 * 60_000
      await conn.writer.writeFrame(Op.Delete, { id, owner: owner.publicKey, timestamp: old, signature: sign(owner, deleteSigningBytes(node.nodeId, id, old)) })
      await assert.rejects(conn.response(Op.Delete | 0x80), (err: RemoteError) => err.code === 'BATCHAIN_ERR_STALE_REQUEST')
      // A put whose ownership signature does not match is refused too.
      await conn.writer.writeFrame(Op.Put, { id, size: data.length, owner: owner.publicKey, signature: sign(owner, putSigningBytes(id, data.length + 1)) })
      await assert.rejects(conn.response(Op.Put | 0x80), (err: RemoteError) => err.code === 'BATCHAIN_ERR_INVALID_SIGNATURE')
    } finally {
      conn.close()
    }
    assert.deepEqual((await client.has(contact, [id])).have, [true], 'the piece survived every forged delete')
    assert.deepEqual(await client.delete(target, id), { deleted: true })
    assert.deepEqual((await client.has(contact, [id])).have, [false])
    await assertHealthy()
  })

  test('over capacity: CAPACITY_EXCEEDED before any body byte is sent', async () => {
    const data = randomBytes(9 * MiB)
    const started = performance.now()
    await assert.rejects(client.put(contact, pieceIdOf(data), data), (err: RemoteError) => err.code === 'BATCHAIN_ERR_CAPACITY_EXCEEDED')
    assert.ok(performance.now() - started >= 0)
    const stats = await client.stat(contact)
    assert.ok(stats.used <= stats.capacity)
    await assertHealthy()
  })

  test('bogus capabilities and manifests get clear CLI errors', async () => {
    const env = { BATCHAIN_HOME: join(tmp.dir, 'home') }
    for (const cap of ['garbage', 'batchain:r1:zz:yy', `batchain:r1:${'a'.repeat(64)}`, `batchain:v2:${'a'.repeat(64)}`]) {
      const res = await runCli(['download', cap, '-o', join(tmp.dir, 'x'), '--nodes', node.contact, '--json'], { env })
      assert.equal(res.code, 1, cap)
      assert.equal(res.json.error.code, 'BATCHAIN_ERR_INVALID_CAPABILITY', cap)
      assert.equal(res.stderr.trim().split('\n').length, 1, 'one line on stderr')
    }
    // A verify capability cannot download.
    const verify = await runCli(['download', `batchain:v1:${keptId}`, '-o', join(tmp.dir, 'x'), '--nodes', node.contact, '--json'], { env })
    assert.equal(verify.json.error.code, 'BATCHAIN_ERR_CAPABILITY_LACKS_KEY')
    // A well-formed capability whose "manifest" is some other piece.
    const notManifest = formatCapability({ kind: 'read', manifestId: keptId, key: randomBytes(32) })
    const bad = await runCli(['download', notManifest, '-o', join(tmp.dir, 'x'), '--nodes', node.contact, '--json'], { env })
    assert.equal(bad.code, 1)
    assert.equal(bad.json.error.code, 'BATCHAIN_ERR_INVALID_MANIFEST')
    // A capability nobody holds.
    const missing = formatCapability({ kind: 'read', manifestId: pieceIdOf(randomBytes(8)) as PieceId, key: randomBytes(32) })
    const gone = await runCli(['download', missing, '-o', join(tmp.dir, 'x'), '--nodes', node.contact, '--json'], { env })
    assert.equal(gone.json.error.code, 'BATCHAIN_ERR_PIECE_NOT_FOUND')
    // Nothing half-written was left behind.
    const usage = await runCli(['upload', join(tmp.dir, 'no-such-file'), '--nodes', node.contact, '--json'], { env })
    assert.equal(usage.json.error.code, 'BATCHAIN_ERR_INVALID_ARGUMENT')
    await assertHealthy()
  })

  test('a full disk: DISK_FULL, the node keeps serving, stored pieces intact', async (t) => {
    const mnt = join(tmp.dir, 'tiny')
    await mkdir(mnt, { recursive: true })
    let mounted = false
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt], { stdio: 'ignore' })
      mounted = true
    } catch { /* reported below */ }
    if (!requirePrerequisite('tmpfs mount (root)', mounted, t, isCI() ? 'CI runs as root' : 'run as root')) return
    const full = await spawnNode('full', join(mnt, 'node'), { capacity: '1GiB' })
    const fullContact = parseContact(full.contact)
    try {
      const stored: Array<{ id: PieceId, data: Buffer }> = []
      let diskFull: RemoteError | undefined
      for (let i = 0; i < 8 && diskFull === undefined; i++) {
        const data = randomBytes(700 * KiB)
        const id = pieceIdOf(data)
        try {
          await client.put(fullContact, id, data)
          stored.push({ id, data })
        } catch (err) {
          diskFull = err as RemoteError
        }
      }
      assert.equal(diskFull?.code, 'BATCHAIN_ERR_DISK_FULL')
      assert.ok(stored.length >= 1)
      for (const piece of stored) {
        const { data } = await client.get(fullContact, piece.id)
        assert.ok(data.equals(piece.data), 'stored pieces intact after the disk filled')
      }
      // Space comes back after a delete and the node accepts a piece again.
      const first = stored[0] as { id: PieceId }
      await client.delete({ ...fullContact, nodeId: full.nodeId as never }, first.id)
      const small = randomBytes(64 * KiB)
      assert.equal((await client.put(fullContact, pieceIdOf(small), small)).created, true)
    } finally {
      await stopNode(full)
      execFileSync('umount', ['-l', mnt], { stdio: 'ignore' })
    }
    await assertHealthy()
  })
})

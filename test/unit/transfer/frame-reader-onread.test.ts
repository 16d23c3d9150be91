import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { ConnectionClosedError } from '../../../src/core/errors.js'
import { encodeFrameHead, Op, Res } from '../../../src/protocol/index.js'
import { FrameReader } from '../../../src/transfer/frame-reader.js'

/**
 * FrameReader's 'onread' mode (reads into one shared buffer, bodies copied straight into their
 * destination) over real loopback sockets, against a raw server that writes crafted frames.
 */
describe('FrameReader in onread mode', () => {
  let server: Server
  let script: (socket: Socket) => void = () => {}
  const peers = new Set<Socket>()
  before(async () => {
    server = createServer(socket => { peers.add(socket); socket.on('error', () => {}); script(socket) })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
  })
  after(async () => {
    for (const p of peers) p.destroy()
    await new Promise(resolve => server.close(resolve))
  })

  async function open (): Promise<{ socket: Socket, reader: FrameReader }> {
    const made: { reader?: FrameReader } = {}
    const socket = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, onread: FrameReader.onReadOptions(() => made.reader) })
    made.reader = new FrameReader(socket, {}, 'onread')
    socket.on('error', () => {})
    await once(socket, 'connect')
    return { socket, reader: made.reader }
  }

  test('bodies collected into a destination across reads, with frames pipelined behind them', async () => {
    const bodies = [randomBytes(3 * 1024 * 1024 + 5), randomBytes(1), randomBytes(700_001)]
    script = socket => {
      // Everything in one go: heads and bodies run together across read boundaries.
      socket.write(Buffer.concat(bodies.flatMap(b => [encodeFrameHead(Res.Get, { size: b.length }, b.length), b])))
      socket.write(encodeFrameHead(Res.Ping, {}))
    }
    const { socket, reader } = await open()
    try {
      for (const body of bodies) {
        const head = await reader.readFrame()
        assert.equal(head?.type, Res.Get)
        const target = Buffer.alloc(body.length + 10)
        const got = await reader.collectInto(head.bodyLength, target)
        assert.deepEqual(got, body)
        assert.ok(target.subarray(body.length).every(b => b === 0), 'nothing written past the body')
      }
      assert.equal((await reader.readFrame())?.type, Res.Ping)
      assert.equal(reader.atBoundary, true)
    } finally {
      socket.destroy()
    }
  })

  test('a peer closing in the middle of a body: ConnectionClosedError', async () => {
    script = socket => { socket.end(Buffer.concat([encodeFrameHead(Res.Get, {}, 1000), randomBytes(400)])) }
    const { socket, reader } = await open()
    try {
      const head = await reader.readFrame()
      await assert.rejects(reader.collectInto(head!.bodyLength, Buffer.alloc(1000)), ConnectionClosedError)
    } finally {
      socket.destroy()
    }
  })

  test('an abort while waiting for body bytes rejects with the reason and tears the connection down', async () => {
    script = socket => { socket.write(Buffer.concat([encodeFrameHead(Res.Get, {}, 1 << 20), randomBytes(1000)])) }
    const { socket, reader } = await open()
    const head = await reader.readFrame()
    const controller = new AbortController()
    const reading = reader.collectInto(head!.bodyLength, Buffer.alloc(1 << 20), controller.signal)
    setTimeout(() => { controller.abort(new Error('stop here')) }, 50)
    await assert.rejects(reading, (err: Error) => err.name === 'AbortError' || /stop here/.test(err.message))
    assert.equal(socket.destroyed, true)
  })

  test('a peer that floods without being read is paused near the high-water mark, not buffered without bound', async () => {
    let written = 0
    script = socket => {
      const chunk = Buffer.concat([encodeFrameHead(Op.Data, {}, 64 * 1024), randomBytes(64 * 1024)])
      const pump = (): void => {
        while (written < 64 * 1024 * 1024 && socket.write(chunk)) written += chunk.length
        if (written < 64 * 1024 * 1024) socket.once('drain', pump)
      }
      pump()
    }
    const { socket, reader } = await open()
    try {
      const first = await reader.readFrame()
      await new Promise(resolve => setTimeout(resolve, 300))
      const held = written
      await reader.skip(first!.bodyLength)
      assert.ok(held < 16 * 1024 * 1024, `the sender was held back by TCP (${held} bytes written)`)
      // Reading on resumes the socket: frame after frame comes through, well past what was buffered.
      for (let i = 0; i < 400; i++) {
        const head = await reader.readFrame()
        assert.equal(head?.type, Op.Data)
        await reader.skip(head.bodyLength)
      }
      assert.ok(written > held, 'the sender went on once we read')
    } finally {
      socket.destroy()
    }
  })
})

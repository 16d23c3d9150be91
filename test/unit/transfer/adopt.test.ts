import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect, createServer, Socket } from 'node:net'
import { test } from 'node:test'
import { adoptWithOnRead } from '../../../src/transfer/adopt.js'

test('an accepted connection moves into an onread socket: every byte arrives through the one buffer, and the server counts it until it closes', async () => {
  const buffer = Buffer.alloc(64 * 1024)
  let bytes = 0
  let reads = 0
  let foreign = 0
  const adopted: Socket[] = []
  const server = createServer({ pauseOnConnect: true }, accepted => {
    const { socket, onread } = adoptWithOnRead(accepted, {
      buffer,
      callback: (n, into) => { reads++; bytes += n; if (into !== buffer) foreign++; return true }
    })
    assert.equal(onread, true)
    adopted.push(socket)
    socket.on('end', () => { socket.end('ok') })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const client = connect((server.address() as { port: number }).port, '127.0.0.1')
  await once(client, 'connect')
  client.end(Buffer.alloc(1_000_000, 1))
  let answer = ''
  client.on('data', d => { answer += String(d) })
  await once(client, 'close')
  assert.equal(answer, 'ok')
  assert.equal(bytes, 1_000_000)
  assert.equal(foreign, 0, 'every read landed in the given buffer')
  assert.ok(reads >= Math.ceil(1_000_000 / buffer.length), `reads ${reads}`)
  // The shell of the accepted socket is released when the adopted one closes: close() completes.
  if (adopted[0]?.closed !== true) await once(adopted[0] as Socket, 'close')
  await new Promise<void>((resolve, reject) => { server.close(err => { if (err === undefined) resolve(); else reject(err) }) })
  assert.equal(server.listening, false)
})

test('a socket without a handle is used as it is (reading the ordinary way)', () => {
  const plain = new Socket()
  const { socket, onread } = adoptWithOnRead(plain, { buffer: Buffer.alloc(16), callback: () => true })
  assert.equal(onread, false)
  assert.equal(socket, plain)
  plain.destroy()
})

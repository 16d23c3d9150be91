/**
 * A plain TCP receiver: the baseline the transfer benchmark compares BatChain against.
 *
 *   node --import tsx bench/raw-receiver.ts --port P --dir D [--host 127.0.0.1]
 *     For each connection: write every received byte to a new file in D, fsync it when the peer
 *     ends its side, reply with one byte 'K', close.
 *   node --import tsx bench/raw-receiver.ts --port P --serve FILE
 *     For each connection: stream FILE to the peer, then close (bytes the peer sends are ignored).
 *
 * Prints {"port": P} on stdout once listening (P is the real port when --port 0 is given).
 * Exits on SIGTERM/SIGINT.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { finished, pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    dir: { type: 'string' },
    serve: { type: 'string' }
  },
  strict: true
})

const port = Number(values.port)
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`bad --port ${values.port}`)
if ((values.dir === undefined) === (values.serve === undefined)) fail('give exactly one of --dir D or --serve FILE')

function fail (message: string): never {
  process.stderr.write(`raw-receiver: ${message}\n`)
  process.exit(2)
}

let connections = 0

async function receive (socket: Socket, dir: string): Promise<void> {
  const file = join(dir, `conn-${process.pid}-${connections++}.bin`)
  // flush: fsync before the file is closed (Node >= 20.10). Not pipeline(socket, out): it would wait
  // for the socket's writable side too, which only ends after the 'K' below.
  const out = createWriteStream(file, { flush: true })
  socket.once('error', (err) => { out.destroy(err) })
  socket.pipe(out)
  await finished(out) // 'finish' and then 'close', i.e. after the fsync
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.end('K', () => { resolve() })
  })
}

async function serve (socket: Socket, file: string): Promise<void> {
  socket.resume() // ignore whatever the peer sends
  await pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), socket)
}

const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
  const work = values.serve !== undefined ? serve(socket, values.serve) : receive(socket, values.dir!)
  work.catch((err: unknown) => {
    process.stderr.write(`raw-receiver: connection failed: ${err instanceof Error ? err.message : String(err)}\n`)
    socket.destroy()
  })
})

server.on('error', (err) => { fail(err.message) })
server.listen({ port, host: values.host }, () => {
  const address = server.address()
  const actual = typeof address === 'object' && address !== null ? address.port : port
  process.stdout.write(JSON.stringify({ port: actual }) + '\n')
})

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    server.close()
    process.exit(0)
  })
}

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server, type Socket } from 'node:net'
import { AbortError } from '../../../src/core/errors.js'
import { RespError, encodeCommand, parseReply, redisAddressOf, redisCommand } from '../../../src/testnet/resp.js'
import { createProber } from '../../../src/testnet/probe.js'
import { startRedis } from '../../helpers/redis.js'

/** A TCP server on 127.0.0.1:0 that does `onData` with what it receives. */
async function tcpServer (onData: (socket: Socket, data: Buffer) => void): Promise<{ url: string, close: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  const server: Server = createServer(socket => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('data', d => { onData(socket, d) })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `redis://127.0.0.1:${port}`,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise(resolve => server.close(resolve))
    }
  }
}

describe('RESP (testnet probes of Redis)', () => {
  test('commands are arrays of bulk strings (binary-safe lengths)', () => {
    assert.equal(encodeCommand(['PING']).toString(), '*1\r\n$4\r\nPING\r\n')
    assert.equal(encodeCommand(['GET', 'é']).toString(), '*2\r\n$3\r\nGET\r\n$2\r\né\r\n')
  })

  test('replies: simple, error, integer, bulk, null, arrays; incomplete ones wait for more; malformed ones throw', () => {
    const parse = (text: string): unknown => parseReply(Buffer.from(text))?.value
    assert.equal(parse('+PONG\r\n'), 'PONG')
    const err = parse('-ERR unknown command\r\n')
    assert.ok(err instanceof RespError && err.message === 'ERR unknown command')
    assert.equal(parse(':42\r\n'), 42)
    assert.equal(parse('$5\r\nhello\r\n'), 'hello')
    assert.equal(parse('$0\r\n\r\n'), '')
    assert.equal(parse('$-1\r\n'), null)
    assert.deepEqual(parse('*3\r\n:1\r\n$1\r\na\r\n$-1\r\n'), [1, 'a', null])
    assert.deepEqual(parseReply(Buffer.from('+OK\r\n+NEXT\r\n')), { value: 'OK', end: 5 })
    for (const partial of ['', '+PON', '$5\r\nhel', '$5\r\nhello', '*2\r\n:1\r\n']) assert.equal(parseReply(Buffer.from(partial)), undefined, JSON.stringify(partial))
    for (const bad of ['?what\r\n', ':x\r\n', '$5\r\nhelloXX', '$999999999\r\n', '*-5\r\n']) assert.throws(() => parseReply(Buffer.from(bad)), JSON.stringify(bad))
  })

  test('redis:// URLs: host and port (default 6379, IPv6 unbracketed); anything else is refused', () => {
    assert.deepEqual(redisAddressOf('redis://127.0.0.1:6390'), { host: '127.0.0.1', port: 6390 })
    assert.deepEqual(redisAddressOf('redis://[::1]/2'), { host: '::1', port: 6379 })
    assert.throws(() => redisAddressOf('http://127.0.0.1:6379'))
    assert.throws(() => redisAddressOf('nonsense'))
  })

  test('a server that answers with an error, never answers, or hangs up: the command fails within its deadline', async () => {
    const erroring = await tcpServer(socket => { socket.write('-LOADING Redis is loading the dataset in memory\r\n') })
    const silent = await tcpServer(() => {})
    const hangingUp = await tcpServer(socket => { socket.end() })
    try {
      await assert.rejects(redisCommand(erroring.url, ['PING']), (err: unknown) => err instanceof RespError && /^LOADING/.test(err.message))
      const started = Date.now()
      await assert.rejects(redisCommand(silent.url, ['PING'], { timeoutMs: 300 }), /no answer from 127\.0\.0\.1:\d+ within 300 ms/)
      assert.ok(Date.now() - started < 2000)
      await assert.rejects(redisCommand(hangingUp.url, ['PING']), /closed the connection without a reply/)
      const controller = new AbortController()
      const pending = redisCommand(silent.url, ['PING'], { signal: controller.signal, timeoutMs: 10_000 })
      controller.abort(new Error('stop'))
      await assert.rejects(pending, (err: unknown) => err instanceof AbortError && (err.cause as Error).message === 'stop')
    } finally {
      await Promise.all([erroring.close(), silent.close(), hangingUp.close()])
    }
    const closed = await tcpServer(() => {})
    await closed.close()
    await assert.rejects(redisCommand(closed.url, ['PING']), /ECONNREFUSED/)
  })

  test('against a real redis-server: PING, SET and GET, an error reply; the prober uses the same client', async t => {
    const redis = await startRedis(t)
    if (redis === undefined) return
    t.after(async () => { await redis.close() })
    assert.equal(await redisCommand(redis.url, ['PING']), 'PONG')
    assert.equal(await redisCommand(redis.url, ['SET', 'k', 'v é']), 'OK')
    assert.equal(await redisCommand(redis.url, ['GET', 'k']), 'v é')
    assert.equal(await redisCommand(redis.url, ['GET', 'missing']), null)
    assert.equal(await redisCommand(redis.url, ['EXISTS', 'k', 'missing']), 1)
    await assert.rejects(redisCommand(redis.url, ['NOSUCHCOMMAND']), RespError)
    const prober = createProber({ timeoutMs: 1000 })
    try {
      assert.equal(await prober.redis(redis.url, ['PING']), 'PONG')
    } finally {
      await prober.close()
    }
  })
})

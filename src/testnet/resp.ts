import { createConnection, type Socket } from 'node:net'
import { abortReason, type AbortOptions } from '../core/abort.js'

/**
 * The smallest Redis client `testnet status` needs: one connection, one command, one reply, over
 * RESP2 on plain TCP (a testnet's Redis has no TLS and no password). The jobs layer's ioredis is
 * not used here: testnet does not depend on jobs, and a probe must not reconnect or queue.
 */

/** A RESP2 reply: simple string, integer, bulk string (null when absent), or array. Errors throw. */
export type RespValue = string | number | null | RespValue[]

/** A `-ERR …` reply. */
export class RespError extends Error {}

export interface RedisAddress { host: string, port: number }

/** host and port of redis://HOST:PORT[/DB] (IPv6 hosts in brackets); throws on anything else. */
export function redisAddressOf (url: string): RedisAddress {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new Error(`not a Redis URL: ${url}`)
  }
  if (parsed.protocol !== 'redis:' || parsed.hostname === '') throw new Error(`not a redis:// URL: ${url}`)
  return { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port: parsed.port === '' ? 6379 : Number(parsed.port) }
}

/** The command as a RESP array of bulk strings. */
export function encodeCommand (args: readonly string[]): Buffer {
  const parts = [`*${args.length}\r\n`]
  for (const a of args) parts.push(`$${Buffer.byteLength(a)}\r\n${a}\r\n`)
  return Buffer.from(parts.join(''))
}

/** Largest reply read (a probe's replies are a few bytes). */
const MAX_REPLY = 1024 * 1024

/**
 * Parses one reply from the start of `buf`. Returns undefined while it is incomplete, else the
 * value (or the RespError of an error reply) and the bytes it used. Throws on a malformed reply.
 */
export function parseReply (buf: Buffer, at = 0): { value: RespValue | RespError, end: number } | undefined {
  const eol = buf.indexOf('\r\n', at)
  if (eol < 0) {
    if (buf.length - at > 64 * 1024) throw new Error('RESP line too long')
    return undefined
  }
  const type = String.fromCharCode(buf[at]!)
  const line = buf.toString('utf8', at + 1, eol)
  const next = eol + 2
  switch (type) {
    case '+': return { value: line, end: next }
    case '-': return { value: new RespError(line), end: next }
    case ':': return { value: integer(line), end: next }
    case '$': {
      const length = integer(line)
      if (length === -1) return { value: null, end: next }
      if (length < 0 || length > MAX_REPLY) throw new Error(`bad RESP bulk length ${line}`)
      if (buf.length < next + length + 2) return undefined
      if (buf[next + length] !== 0x0d || buf[next + length + 1] !== 0x0a) throw new Error('RESP bulk string not terminated')
      return { value: buf.toString('utf8', next, next + length), end: next + length + 2 }
    }
    case '*': {
      const count = integer(line)
      if (count === -1) return { value: null, end: next }
      if (count < 0 || count > 1024) throw new Error(`bad RESP array length ${line}`)
      const items: RespValue[] = []
      let end = next
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, end)
        if (item === undefined) return undefined
        if (item.value instanceof RespError) throw item.value
        items.push(item.value)
        end = item.end
      }
      return { value: items, end }
    }
    default: throw new Error(`not a RESP reply (starts with ${JSON.stringify(type)})`)
  }
}

function integer (text: string): number {
  if (!/^-?\d{1,18}$/.test(text)) throw new Error(`bad RESP integer ${JSON.stringify(text)}`)
  return Number(text)
}

/**
 * Sends one command to the Redis at `url` on a fresh connection and resolves with its reply;
 * rejects on an error reply (RespError), a connection failure, `timeoutMs` passing, or abort.
 */
export async function redisCommand (url: string, args: readonly string[], options: AbortOptions & { timeoutMs?: number } = {}): Promise<RespValue> {
  const { host, port } = redisAddressOf(url)
  const { signal } = options
  signal?.throwIfAborted()
  return await new Promise<RespValue>((resolve, reject) => {
    const socket: Socket = createConnection({ host, port })
    let received = Buffer.alloc(0)
    const timer = setTimeout(() => { finish(new Error(`no answer from ${host}:${port} within ${options.timeoutMs ?? 3000} ms`)) }, options.timeoutMs ?? 3000)
    const onAbort = (): void => { finish(abortReason(signal!)) }
    signal?.addEventListener('abort', onAbort, { once: true })
    function finish (result: Error | { value: RespValue }): void {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      socket.destroy()
      socket.removeAllListeners()
      socket.on('error', () => {})
      if (result instanceof Error) reject(result)
      else resolve(result.value)
    }
    socket.once('connect', () => { socket.write(encodeCommand(args)) })
    socket.on('error', err => { finish(err) })
    socket.once('close', () => { finish(new Error(`${host}:${port} closed the connection without a reply`)) })
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      try {
        const reply = parseReply(received)
        if (reply === undefined) {
          if (received.length > MAX_REPLY + 64) finish(new Error('RESP reply too large'))
          return
        }
        finish(reply.value instanceof RespError ? reply.value : { value: reply.value })
      } catch (err) {
        finish(err instanceof Error ? err : new Error(String(err)))
      }
    })
  })
}

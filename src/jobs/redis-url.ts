import { InvalidArgumentError } from '../core/errors.js'

/**
 * Redis URLs: parsing and the credential-free form for logs. Dependency-free (no ioredis), so the
 * CLI can validate --redis and print where it connects without loading a Redis client;
 * connection.ts re-exports these.
 */

/** Parsed parts of a Redis URL; the password stays out of describe() and logs. */
export interface RedisAddress {
  host: string
  port: number
  db: number
  username?: string
  password?: string
  tls: boolean
}

export function parseRedisUrl (url: string): RedisAddress {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new InvalidArgumentError('Redis URL must look like redis://host:port[/db]')
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new InvalidArgumentError(`Redis URL must start with redis:// or rediss://, got ${parsed.protocol}//`)
  if (parsed.hostname === '') throw new InvalidArgumentError('Redis URL has no host')
  const port = parsed.port === '' ? 6379 : Number(parsed.port)
  const dbText = parsed.pathname.replace(/^\//, '')
  const db = dbText === '' ? 0 : Number(dbText)
  if (!Number.isInteger(db) || db < 0 || db > 15 || !/^\d*$/.test(dbText)) throw new InvalidArgumentError('Redis URL database must be a number from 0 to 15')
  const address: RedisAddress = { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port, db, tls: parsed.protocol === 'rediss:' }
  if (parsed.username !== '') address.username = decodeURIComponent(parsed.username)
  if (parsed.password !== '') address.password = decodeURIComponent(parsed.password)
  return address
}

/** The URL without credentials, for logs and status output. */
export function describeRedisUrl (url: string): string {
  const a = parseRedisUrl(url)
  const host = a.host.includes(':') ? `[${a.host}]` : a.host
  return `${a.tls ? 'rediss' : 'redis'}://${host}:${a.port}/${a.db}`
}

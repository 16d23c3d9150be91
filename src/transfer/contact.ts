import { isIP } from 'node:net'
import { InvalidArgumentError } from '../core/errors.js'
import type { NodeId } from '../core/ids.js'

/** Where a BatNode's piece server listens; nodeId, when known, is checked at the handshake. */
export interface Contact {
  host: string
  port: number
  nodeId?: NodeId
}

/** Parses "host:port" or "[v6]:port". */
export function parseContact (text: string): Contact {
  const trimmed = text.trim()
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(trimmed) ?? /^([^:[\]]+):(\d{1,5})$/.exec(trimmed)
  if (m === null) throw new InvalidArgumentError(`Not a HOST:PORT contact: ${JSON.stringify(text)}`)
  const host = m[1] as string
  const port = Number(m[2])
  if (port < 1 || port > 65535) throw new InvalidArgumentError(`Port out of range in ${JSON.stringify(text)}`)
  if (trimmed.startsWith('[') && isIP(host) !== 6) throw new InvalidArgumentError(`Not an IPv6 address in ${JSON.stringify(text)}`)
  return { host, port }
}

/** Parses a comma-separated list of contacts; duplicates are removed. */
export function parseContactList (text: string): Contact[] {
  const seen = new Set<string>()
  const out: Contact[] = []
  for (const part of text.split(',')) {
    if (part.trim() === '') continue
    const contact = parseContact(part)
    const key = formatContact(contact)
    if (!seen.has(key)) { seen.add(key); out.push(contact) }
  }
  if (out.length === 0) throw new InvalidArgumentError('No contacts given')
  return out
}

export function formatContact (contact: Pick<Contact, 'host' | 'port'>): string {
  return isIP(contact.host) === 6 ? `[${contact.host}]:${contact.port}` : `${contact.host}:${contact.port}`
}

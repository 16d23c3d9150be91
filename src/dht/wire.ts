import { isIP } from 'node:net'
import { z } from 'zod'
import { nodeIdOf, PUBLIC_KEY_SIZE } from '../crypto/keys.js'
import { dhtKeyOf, isDhtKey } from './keys.js'
import type { DhtKey, DhtPeer, NodeRole } from './types.js'

/**
 * kadence's wire format, validated. Every datagram is JSON:
 *   [ message, { jsonrpc: "2.0", method: "IDENTIFY", params: [identity hex, contact] } ]
 * where message is a JSON-RPC 2.0 request, result or error and the IDENTIFY notification names the
 * sender. kadence trusts all of it (a datagram without the notification crashes a stock node);
 * here nothing is used before it passed these schemas.
 */

/** Largest datagram sent or accepted (UDP's limit on IPv4 is 65507 bytes of payload). */
export const MAX_DATAGRAM = 65_000

/**
 * What kadence calls the contact: how to reach a node, carried in every message it sends.
 * `pub` (the raw Ed25519 key, base64url) lets anyone check that the identity is dhtKeyOf(sha256(pub))
 * without a round trip; `role` lets servers keep clients out of their routing tables.
 */
export interface KadContactInfo {
  hostname: string
  port: number
  pub: string
  role: NodeRole
}

export type Contact = [DhtKey, KadContactInfo]

const ipLiteral = z.string().max(64).refine(h => isIP(h) !== 0, 'hostname must be an IP address')

export const contactInfoSchema = z.object({
  hostname: ipLiteral,
  port: z.number().int().min(1).max(65535),
  pub: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  role: z.enum(['storage', 'bootstrap', 'client'])
})

export const keySchema = z.string().regex(/^[0-9a-f]{40}$/).transform(s => s as DhtKey)

export const contactSchema = z.tuple([keySchema, contactInfoSchema])

const KEY_RE = /^[0-9a-f]{40}$/
const PUB_RE = /^[A-Za-z0-9_-]{43}$/
const ROLES = new Set(['storage', 'bootstrap', 'client'])

/**
 * contactSchema without zod, for the hot path (every FIND_NODE answer carries K contacts): the same
 * checks, and a fresh object so nothing but the known fields travels on.
 */
export function parseContact (value: unknown): Contact | undefined {
  if (!Array.isArray(value) || value.length !== 2) return undefined
  const [key, info] = value as [unknown, unknown]
  if (typeof key !== 'string' || !KEY_RE.test(key)) return undefined
  if (typeof info !== 'object' || info === null || Array.isArray(info)) return undefined
  const { hostname, port, pub, role } = info as Record<string, unknown>
  if (typeof hostname !== 'string' || hostname.length > 64 || isIP(hostname) === 0) return undefined
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return undefined
  if (typeof pub !== 'string' || !PUB_RE.test(pub)) return undefined
  if (typeof role !== 'string' || !ROLES.has(role)) return undefined
  return [key as DhtKey, { hostname, port, pub, role: role as NodeRole }]
}

const jsonrpc = z.literal('2.0')
const id = z.union([z.string().min(1).max(64), z.number().int()])

export const requestSchema = z.object({ jsonrpc, id, method: z.string().min(1).max(64), params: z.unknown() })
export const resultSchema = z.object({ jsonrpc, id, result: z.unknown() })
export const errorSchema = z.object({
  jsonrpc,
  id: z.union([id, z.null()]),
  error: z.object({ code: z.number().int(), message: z.string().max(2048), data: z.unknown().optional() })
})
export const identifySchema = z.object({ jsonrpc, method: z.literal('IDENTIFY'), params: contactSchema })

export type WireRequest = z.infer<typeof requestSchema>
export type WireResult = z.infer<typeof resultSchema>
export type WireError = z.infer<typeof errorSchema>

export type Envelope =
  | { kind: 'request', message: WireRequest, sender: Contact }
  | { kind: 'result', message: WireResult, sender: Contact }
  | { kind: 'error', message: WireError, sender: Contact }

/** Parses a datagram; returns why it is unusable instead of throwing. */
export function parseEnvelope (buffer: Buffer): { ok: true, envelope: Envelope } | { ok: false, code: number, reason: string, id: string | number | null, isRequest: boolean } {
  let json: unknown
  try {
    json = JSON.parse(buffer.toString('utf8'))
  } catch {
    return { ok: false, code: -32700, reason: 'Parse error', id: null, isRequest: true }
  }
  const first: unknown = Array.isArray(json) ? json[0] : json
  const rawId = (first as { id?: unknown } | null)?.id
  const idOf = typeof rawId === 'string' || typeof rawId === 'number' ? rawId : null
  const looksLikeResponse = typeof first === 'object' && first !== null && ('result' in first || 'error' in first)
  const bad = (reason: string): { ok: false, code: number, reason: string, id: string | number | null, isRequest: boolean } =>
    ({ ok: false, code: -32600, reason, id: idOf, isRequest: !looksLikeResponse })
  if (!Array.isArray(json) || json.length !== 2) return bad('Invalid Request: expected [message, IDENTIFY notification]')
  // Every datagram passes here, so the two common shapes (requests and results, with their IDENTIFY
  // part) are checked by hand — the same rules as identifySchema, requestSchema and resultSchema —
  // and zod runs only for error answers. RPC params are validated with zod by each handler.
  const identify = json[1] as { jsonrpc?: unknown, method?: unknown, params?: unknown } | null
  const sender = typeof identify === 'object' && identify !== null && identify.jsonrpc === '2.0' && identify.method === 'IDENTIFY'
    ? parseContact(identify.params)
    : undefined
  if (sender === undefined) return bad('Invalid Request: missing or malformed IDENTIFY notification')
  const message = first as { jsonrpc?: unknown, id?: unknown, method?: unknown, params?: unknown, result?: unknown } | null
  if (typeof message !== 'object' || message === null || Array.isArray(message) || message.jsonrpc !== '2.0') return bad('Invalid Request: not a JSON-RPC 2.0 message')
  const id = message.id
  const idOk = (typeof id === 'string' && id.length >= 1 && id.length <= 64) || Number.isInteger(id)
  if (idOk && typeof message.method === 'string' && message.method.length >= 1 && message.method.length <= 64) {
    return { ok: true, envelope: { kind: 'request', message: { jsonrpc: '2.0', id: id as string | number, method: message.method, params: message.params }, sender } }
  }
  if (idOk && 'result' in message) return { ok: true, envelope: { kind: 'result', message: { jsonrpc: '2.0', id: id as string | number, result: message.result }, sender } }
  const error = errorSchema.safeParse(json[0])
  if (error.success) return { ok: true, envelope: { kind: 'error', message: error.data, sender } }
  return bad('Invalid Request: not a JSON-RPC 2.0 request or response')
}

/** Encodes [message, IDENTIFY(sender)] as kadence does. */
export function encodeEnvelope (message: object, sender: Contact): Buffer {
  return Buffer.from(JSON.stringify([message, { jsonrpc: '2.0', method: 'IDENTIFY', params: sender }]), 'utf8')
}

/**
 * The same bytes as encodeEnvelope, with the sender's IDENTIFY part serialised once (a node sends
 * the same one in every message; lookups send thousands).
 */
export function envelopeEncoder (sender: Contact): (message: object) => Buffer {
  const tail = `,${JSON.stringify({ jsonrpc: '2.0', method: 'IDENTIFY', params: sender })}]`
  return (message) => Buffer.from(`[${JSON.stringify(message)}${tail}`, 'utf8')
}

/** Bindings already checked (key → public key), so the hash is not recomputed for every message and every FIND_NODE answer. */
const checkedBindings = new Map<string, string>()

/** True when `identity` is dhtKeyOf(sha256(pub)): the contact cannot claim a key that is not its own. */
export function contactBinds (identity: string, info: KadContactInfo): boolean {
  if (checkedBindings.get(identity) === info.pub) return true
  if (!isDhtKey(identity)) return false
  const pub = Buffer.from(info.pub, 'base64url')
  if (pub.length !== PUBLIC_KEY_SIZE) return false
  if (dhtKeyOf(nodeIdOf(pub)) !== identity) return false
  if (checkedBindings.size >= 100_000) checkedBindings.clear()
  checkedBindings.set(identity, info.pub)
  return true
}

export function toPeer ([key, info]: Contact): DhtPeer {
  return { key, host: info.hostname, port: info.port }
}

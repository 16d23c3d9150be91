import { z } from 'zod'
import type { NodeId } from '../core/ids.js'
import { nodeIdOf, sign, verifySignature, type Identity, PUBLIC_KEY_SIZE, SIGNATURE_SIZE } from '../crypto/keys.js'
import { dhtKeyOf } from './keys.js'
import type { DhtKey, LocalNodeFacts, NodeInfo, NodeRole } from './types.js'

/**
 * Signed NodeInfo: what a node says about itself (INFO answers, contact records). The signature
 * covers the canonical JSON of every field but `signature` — unknown fields included, so a newer
 * node may add fields without older nodes rejecting its signature — under a domain prefix, so the
 * bytes can never be mistaken for another signed BatChain message.
 */

const DOMAIN = 'batchain:node-info:v1\n'

/** Largest encoded NodeInfo accepted (well under a UDP datagram). */
export const MAX_NODE_INFO_BYTES = 4096

const hex64 = z.string().regex(/^[0-9a-f]{64}$/)
const base64url = (bytes: number): z.ZodString => z.string().regex(/^[A-Za-z0-9_-]+$/).length(Math.ceil(bytes * 4 / 3))
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
export const addressSchema = z.object({
  host: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65535)
})

export const nodeInfoSchema = z.looseObject({
  nodeId: hex64,
  publicKey: base64url(PUBLIC_KEY_SIZE),
  role: z.enum(['storage', 'bootstrap', 'client']),
  dht: addressSchema,
  piece: addressSchema.optional(),
  capacity: count,
  free: count,
  version: z.string().max(64),
  protocolVersion: z.number().int().min(0).max(65535),
  zone: z.string().max(128).optional(),
  reachability: z.enum(['direct', 'unknown']),
  issuedAt: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  signature: base64url(SIGNATURE_SIZE)
})

/** JSON with object keys sorted at every level and undefined members left out: one byte string per value. */
export function canonicalJson (value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map(v => canonicalJson(v === undefined ? null : v)).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}

/** The bytes a NodeInfo signature covers. */
export function nodeInfoSigningBytes (info: Omit<NodeInfo, 'signature'> & { signature?: unknown }): Buffer {
  const { signature: _signature, ...body } = info
  return Buffer.from(DOMAIN + canonicalJson(body), 'utf8')
}

export interface NodeInfoFields {
  role: NodeRole
  dht: { host: string, port: number }
  facts: LocalNodeFacts
  version: string
  protocolVersion: number
  /** @defaultValue Date.now() */
  issuedAt?: number
}

/** A NodeInfo for `identity`, signed now. */
export function signNodeInfo (identity: Identity, fields: NodeInfoFields): NodeInfo {
  const { facts } = fields
  const body: Omit<NodeInfo, 'signature'> = {
    nodeId: identity.id,
    publicKey: identity.publicKey.toString('base64url'),
    role: fields.role,
    dht: { host: fields.dht.host, port: fields.dht.port },
    ...(facts.piece === undefined ? {} : { piece: { host: facts.piece.host, port: facts.piece.port } }),
    capacity: Math.max(0, Math.floor(facts.capacity)),
    free: Math.max(0, Math.floor(facts.free)),
    version: fields.version,
    protocolVersion: fields.protocolVersion,
    ...(facts.zone === undefined ? {} : { zone: facts.zone }),
    reachability: facts.reachability,
    issuedAt: fields.issuedAt ?? Date.now()
  }
  return { ...body, signature: sign(identity, nodeInfoSigningBytes(body)).toString('base64url') }
}

export type NodeInfoCheck = { ok: true, info: NodeInfo, key: DhtKey } | { ok: false, reason: string }

/**
 * Checks a NodeInfo from the network: shape, size, nodeId = sha256(publicKey), and the signature.
 * Never throws. `key` is dhtKeyOf(nodeId), the KadNode identity the info binds to; a caller that
 * got the info from a peer compares it with that peer's kadence identity.
 */
export function checkNodeInfo (value: unknown): NodeInfoCheck {
  const parsed = nodeInfoSchema.safeParse(value)
  if (!parsed.success) return { ok: false, reason: `malformed: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? ''}`.trim() }
  const info = parsed.data as NodeInfo & Record<string, unknown>
  let bytes: Buffer
  try {
    bytes = nodeInfoSigningBytes(info)
  } catch {
    return { ok: false, reason: 'not encodable' }
  }
  if (bytes.length > MAX_NODE_INFO_BYTES) return { ok: false, reason: 'too large' }
  const publicKey = Buffer.from(info.publicKey, 'base64url')
  const signature = Buffer.from(info.signature, 'base64url')
  if (publicKey.length !== PUBLIC_KEY_SIZE || signature.length !== SIGNATURE_SIZE) return { ok: false, reason: 'bad key or signature size' }
  if (nodeIdOf(publicKey) !== info.nodeId) return { ok: false, reason: 'nodeId is not the hash of publicKey' }
  if (!verifySignature(publicKey, bytes, signature)) return { ok: false, reason: 'bad signature' }
  return { ok: true, info, key: dhtKeyOf(info.nodeId as NodeId) }
}

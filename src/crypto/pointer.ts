import type { NodeId, PieceId } from '../core/ids.js'
import { isNodeId, isPieceId } from '../core/ids.js'
import { nodeIdOf, sign, verifySignature, verifySignatureAsync, type Identity, PUBLIC_KEY_SIZE, SIGNATURE_SIZE } from './keys.js'

/**
 * A pointer record says "node `holder` holds piece `pieceId`", signed by the holder.
 *
 * It lives here (not in dht/) because two layers make or check it: the piece server signs one for
 * every stored piece and hands it back in the PUT answer (so the uploader can publish it at once,
 * with no race between "stored" and "findable"), and the DHT stores, serves and re-checks them.
 * Anyone can verify a record with nothing but the record: the holder's public key is inside and the
 * holder id is its hash, so a node cannot point at pieces on behalf of another node.
 */
export interface PointerRecord {
  pieceId: PieceId
  holder: NodeId
  /** The holder's raw Ed25519 public key, base64url. sha256 of it is `holder`. */
  publicKey: string
  /** Milliseconds since the epoch. */
  issuedAt: number
  /** Milliseconds since the epoch; the record is dropped after this unless refreshed. */
  expiresAt: number
  /** Ed25519 over pointerSigningBytes(), base64url. */
  signature: string
}

/** Longest lifetime a record may claim; longer ones are refused (a holder must keep refreshing). */
export const MAX_POINTER_TTL_MS = 7 * 24 * 3600 * 1000
/** Clock skew tolerated on issuedAt. */
export const POINTER_CLOCK_SKEW_MS = 5 * 60 * 1000

const DOMAIN = 'batchain:pointer:v1'

export function pointerSigningBytes (r: Pick<PointerRecord, 'pieceId' | 'holder' | 'issuedAt' | 'expiresAt'>): Buffer {
  return Buffer.from(`${DOMAIN}\n${r.pieceId}\n${r.holder}\n${r.issuedAt}\n${r.expiresAt}`, 'utf8')
}

export interface SignPointerOptions {
  /** Lifetime in ms (at most MAX_POINTER_TTL_MS). */
  ttlMs: number
  /** For tests. @defaultValue Date.now() */
  now?: number
}

/** A record for `pieceId` held by `identity`, valid for ttlMs. */
export function signPointer (identity: Identity, pieceId: PieceId, options: SignPointerOptions): PointerRecord {
  const issuedAt = options.now ?? Date.now()
  const ttl = Math.min(Math.max(1, Math.floor(options.ttlMs)), MAX_POINTER_TTL_MS)
  const body = { pieceId, holder: identity.id, issuedAt, expiresAt: issuedAt + ttl }
  return {
    ...body,
    publicKey: identity.publicKey.toString('base64url'),
    signature: sign(identity, pointerSigningBytes(body)).toString('base64url')
  }
}

export type PointerCheck = { ok: true } | { ok: false, reason: string }

/**
 * Checks shape, identity binding, signature and lifetime. Never throws: records come from the
 * network and a bad one is simply ignored (the caller logs `reason`).
 */
export function checkPointer (record: unknown, now = Date.now()): PointerCheck {
  const pre = precheck(record, now)
  if (!pre.ok || pre.verified) return pre.ok ? { ok: true } : pre
  if (!verifySignature(pre.publicKey, pre.bytes, pre.signature)) return { ok: false, reason: 'bad signature' }
  remember(pre.seen)
  return { ok: true }
}

/**
 * Everything checkPointer checks but the signature (shape, holder = hash of the key, lifetime):
 * for a store that keeps a record now and verifies its signature before it first serves it.
 * `verified` says the signature already checked out in this process.
 */
export function checkPointerUnsigned (record: unknown, now = Date.now()): { ok: true, verified: boolean } | { ok: false, reason: string } {
  const pre = precheck(record, now)
  return pre.ok ? { ok: true, verified: pre.verified } : pre
}

/**
 * Verifies the signatures of many records at once on the thread pool, so that checkPointer of
 * them afterwards is a cache hit: a downloader receiving a few hundred records keeps its event
 * loop for the transfer. Records that fail anything are left for checkPointer to refuse.
 */
export async function preverifyPointers (records: readonly unknown[], now = Date.now()): Promise<void> {
  await Promise.all(records.map(async record => {
    const pre = precheck(record, now)
    if (!pre.ok || pre.verified) return
    if (await verifySignatureAsync(pre.publicKey, pre.bytes, pre.signature)) remember(pre.seen)
  }))
}

type Precheck = { ok: false, reason: string } | { ok: true, verified: true } |
{ ok: true, verified: false, seen: string, publicKey: Buffer, signature: Buffer, bytes: Buffer }

/** Everything checkPointer checks but the signature, and whether that was verified before. */
function precheck (record: unknown, now: number): Precheck {
  if (typeof record !== 'object' || record === null) return { ok: false, reason: 'not an object' }
  const r = record as Partial<Record<keyof PointerRecord, unknown>>
  if (!isPieceId(r.pieceId)) return { ok: false, reason: 'bad pieceId' }
  if (!isNodeId(r.holder)) return { ok: false, reason: 'bad holder' }
  if (!Number.isSafeInteger(r.issuedAt) || !Number.isSafeInteger(r.expiresAt)) return { ok: false, reason: 'bad times' }
  if (typeof r.publicKey !== 'string' || typeof r.signature !== 'string') return { ok: false, reason: 'bad key or signature' }
  const issuedAt = r.issuedAt as number
  const expiresAt = r.expiresAt as number
  if (expiresAt <= issuedAt || expiresAt - issuedAt > MAX_POINTER_TTL_MS) return { ok: false, reason: 'bad lifetime' }
  if (expiresAt <= now) return { ok: false, reason: 'expired' }
  if (issuedAt > now + POINTER_CLOCK_SKEW_MS) return { ok: false, reason: 'issued in the future' }
  // The same record reaches a process many times (every node of a neighbourhood answers with it,
  // holders republish it): once its signature checked out, an identical record needs only the
  // checks above, which depend on the time.
  const seen = `${r.pieceId}|${r.holder}|${issuedAt}|${expiresAt}|${r.publicKey}|${r.signature}`
  if (verifiedRecords.has(seen)) return { ok: true, verified: true }
  const publicKey = Buffer.from(r.publicKey, 'base64url')
  const signature = Buffer.from(r.signature, 'base64url')
  if (publicKey.length !== PUBLIC_KEY_SIZE || signature.length !== SIGNATURE_SIZE) return { ok: false, reason: 'bad key or signature size' }
  if (nodeIdOf(publicKey) !== r.holder) return { ok: false, reason: 'holder is not the hash of publicKey' }
  const bytes = pointerSigningBytes({ pieceId: r.pieceId, holder: r.holder, issuedAt, expiresAt })
  return { ok: true, verified: false, seen, publicKey, signature, bytes }
}

function remember (seen: string): void {
  if (verifiedRecords.size >= MAX_VERIFIED_RECORDS) verifiedRecords.clear()
  verifiedRecords.add(seen)
}

/** Records whose signature verified, each as all its signed and signing fields joined by '|' (in none of them; bounded: cleared when full). */
const verifiedRecords = new Set<string>()
const MAX_VERIFIED_RECORDS = 100_000

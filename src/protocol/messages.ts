import { z } from 'zod'
import { MAX_AUDIT_LEAVES, MAX_PIECE_SIZE, PROTOCOL_VERSION } from '../core/constants.js'
import { InvalidHeaderError } from '../core/errors.js'
import { Op, Res } from './ops.js'

/**
 * Header schemas, one per frame type. Headers are small typed maps; piece bytes
 * always travel in the body. Every field is bounded so validation also caps
 * the work a hostile peer can cause.
 */

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters')
const bytesOf = (n: number): z.ZodType<Uint8Array> =>
  z.instanceof(Uint8Array).refine(b => b.length === n, `must be ${n} bytes`)
const size = z.number().int().min(0).max(MAX_PIECE_SIZE)
const safeUint = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)

/** Most ids one HAS request may ask about (512 hex ids ≈ 34 KiB, well inside MAX_HEADER_SIZE). */
export const MAX_HAS_IDS = 512

/**
 * Most ids one HAS request may ask about with `pointers` (a signed record each: ~400 bytes, and an
 * Ed25519 signature of the node's work per record).
 */
export const MAX_HAS_POINTER_IDS = 64

/** A node's signed pointer record (crypto/pointer.ts checks it; this only bounds its shape). */
const pointerRecord = z.object({
  pieceId: hex64,
  holder: hex64,
  publicKey: z.string().max(64),
  issuedAt: z.number().int().nonnegative(),
  expiresAt: z.number().int().nonnegative(),
  signature: z.string().max(128)
})

export const schemas = {
  [Op.Hello]: z.object({
    version: z.number().int().min(0).max(0xffff),
    nonce: bytesOf(32),
    agent: z.string().max(128).optional()
  }),
  [Res.Hello]: z.object({
    version: z.number().int().min(0).max(0xffff),
    nodeId: hex64,
    publicKey: bytesOf(32),
    /** Signature by the node key over helloSigningBytes(client nonce). */
    signature: bytesOf(64),
    agent: z.string().max(128).optional()
  }),
  [Op.Put]: z.object({
    id: hex64,
    size,
    /** Raw Ed25519 public key of the uploader; the piece records it as an owner. */
    owner: bytesOf(32),
    /** Owner's signature over putSigningBytes(id, size). */
    signature: bytesOf(64)
  }),
  [Res.Put]: z.object({
    created: z.boolean(),
    /** The node's signed pointer record for the piece (crypto/pointer.ts), checked by the client. */
    pointer: pointerRecord.optional()
  }),
  [Op.Continue]: z.object({}),
  [Op.Data]: z.object({}),
  [Op.Get]: z.object({
    id: hex64,
    offset: size.optional(),
    length: size.optional()
  }),
  [Res.Get]: z.object({ size, offset: size, length: size }),
  [Op.Audit]: z.object({
    id: hex64,
    indices: z.array(z.number().int().min(0).max(MAX_PIECE_SIZE)).min(1).max(MAX_AUDIT_LEAVES)
  }),
  [Res.Audit]: z.object({
    leafCount: z.number().int().min(1).max(MAX_PIECE_SIZE),
    /** Byte length of each returned leaf; the leaves follow in the body, concatenated. */
    leafLengths: z.array(size).max(MAX_AUDIT_LEAVES),
    proofs: z.array(z.array(bytesOf(32)).max(64)).max(MAX_AUDIT_LEAVES)
  }),
  [Op.Delete]: z.object({
    id: hex64,
    owner: bytesOf(32),
    /** Milliseconds since the epoch; outside SIGNED_REQUEST_WINDOW the request is stale. */
    timestamp: safeUint,
    /** Owner's signature over deleteSigningBytes(nodeId, id, timestamp). */
    signature: bytesOf(64)
  }),
  [Res.Delete]: z.object({ deleted: z.boolean() }),
  [Op.Stat]: z.object({}),
  [Res.Stat]: z.object({
    nodeId: hex64,
    version: z.string().max(64),
    protocol: z.number().int(),
    capacity: safeUint,
    used: safeUint,
    free: safeUint,
    pieces: safeUint
  }),
  [Op.Ping]: z.object({}),
  [Res.Ping]: z.object({ time: safeUint }),
  [Op.Has]: z.object({
    ids: z.array(hex64).min(1).max(MAX_HAS_IDS),
    /**
     * Also answer with this node's freshly signed pointer record for each piece it holds (at most
     * MAX_HAS_POINTER_IDS ids): how a repairer makes a copy that nobody published findable.
     */
    pointers: z.boolean().optional()
  }).refine(h => h.pointers !== true || h.ids.length <= MAX_HAS_POINTER_IDS, `at most ${MAX_HAS_POINTER_IDS} ids with pointers`),
  [Res.Has]: z.object({
    have: z.array(z.boolean()).max(MAX_HAS_IDS),
    /** With `pointers`: per id, the record (null where the node does not hold the piece). */
    pointers: z.array(pointerRecord.nullable()).max(MAX_HAS_POINTER_IDS).optional()
  }),
  [Op.Error]: z.object({
    code: z.string().max(96),
    message: z.string().max(1024)
  })
} as const

export type Schemas = typeof schemas
export type HeaderOf<T extends keyof Schemas> = z.infer<Schemas[T]>

/** Validates a decoded header against the schema of its frame type. */
export function parseHeader<T extends keyof Schemas> (type: T, header: unknown): HeaderOf<T> {
  const schema = schemas[type] as unknown as z.ZodType<HeaderOf<T>> | undefined
  if (schema === undefined) throw new InvalidHeaderError(`No header schema for frame type ${type}`)
  const result = schema.safeParse(header)
  if (!result.success) {
    const issue = result.error.issues[0]
    const where = issue === undefined || issue.path.length === 0 ? 'header' : issue.path.join('.')
    throw new InvalidHeaderError(`Invalid header: ${where} ${issue?.message ?? 'is invalid'}`)
  }
  return result.data
}

export const HELLO_VERSION = PROTOCOL_VERSION

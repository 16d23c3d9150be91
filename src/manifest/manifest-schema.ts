import { z } from 'zod'
import { AEAD_TAG_SIZE, KiB, LEAF_SIZE, MANIFEST_VERSION, MAX_PIECE_SIZE, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE, MiB } from '../core/constants.js'
import { InvalidManifestError } from '../core/errors.js'
import type { PieceId } from '../core/ids.js'
import type { Manifest } from './manifest.js'

/**
 * Erasure limits a manifest may declare. They equal src/erasure's MAX_DATA_SHARDS
 * and MAX_PARITY_SHARDS (manifest may not import erasure; a unit test checks the
 * values agree).
 */
export const MANIFEST_MAX_DATA_SHARDS = 24
export const MANIFEST_MAX_PARITY_SHARDS = 6
/** Shard sizes are multiples of this (as in src/erasure). */
const SHARD_ALIGNMENT = 8

/** Largest encoded manifest accepted, checked before parsing. */
export const MAX_MANIFEST_SIZE = 64 * MiB
/** Largest `sealed` text: name, size, hash and key fit easily; this bounds the name. */
export const MAX_SEALED_LENGTH = 16 * KiB
/** nonce (12) + tag (16): a sealed value is longer than this. */
export const SEALED_OVERHEAD = 12 + AEAD_TAG_SIZE

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters')
const count = z.int().min(0).max(Number.MAX_SAFE_INTEGER)

const pieceSchema = z.strictObject({
  id: hex64.transform(id => id as PieceId),
  size: count,
  grant: z.string().regex(/^[0-9a-f]{128}$/, 'must be 128 lowercase hex characters (an Ed25519 signature)').optional()
})

const segmentSchema = z.strictObject({
  index: count,
  cipherSize: count,
  shardSize: count,
  pieces: z.array(pieceSchema)
})

const paramsSchema = z.strictObject({
  dataShards: z.int().min(1).max(MANIFEST_MAX_DATA_SHARDS),
  parityShards: z.int().min(1).max(MANIFEST_MAX_PARITY_SHARDS),
  segmentSize: z.int().min(MIN_SEGMENT_SIZE).max(MAX_SEGMENT_SIZE),
  leafSize: z.literal(LEAF_SIZE),
  cipher: z.literal('aes-256-gcm'),
  erasure: z.literal('reed-solomon'),
  hash: z.literal('blake3')
})

const manifestSchema = z.strictObject({
  version: z.literal(MANIFEST_VERSION),
  params: paramsSchema,
  segments: z.array(segmentSchema),
  owner: hex64,
  createdAt: z.iso.datetime(),
  sealed: z.string()
    .max(MAX_SEALED_LENGTH)
    .regex(/^[A-Za-z0-9_-]+$/, 'must be base64url')
    .refine(text => Math.floor(text.length * 3 / 4) > SEALED_OVERHEAD, 'is too short to hold a nonce, a tag and any data')
})

function pathText (path: ReadonlyArray<PropertyKey>): string {
  let out = 'manifest'
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `.${String(part)}`
  return out
}

function invalid (path: ReadonlyArray<PropertyKey>, message: string): never {
  throw new InvalidManifestError(`Invalid manifest: ${pathText(path)} ${message}`, { details: { path: pathText(path) } })
}

/**
 * Validates an already-parsed value as a manifest: shapes first, then the
 * consistency rules a shape cannot express (segment order, piece counts and sizes,
 * bounds that keep audits and repairs within limits). Returns a fresh object
 * holding only the known fields.
 */
export function validateManifest (value: unknown): Manifest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid([], 'must be a JSON object')
  const version = (value as { version?: unknown }).version
  if (version !== MANIFEST_VERSION) {
    throw new InvalidManifestError(
      `Unsupported manifest version ${JSON.stringify(version) ?? 'undefined'}: this build reads version ${MANIFEST_VERSION}`,
      { details: { path: 'manifest.version', version: typeof version === 'number' ? version : String(version) } }
    )
  }
  const parsed = manifestSchema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    invalid(issue?.path ?? [], issue?.message.replace(/^Invalid input: /, '') ?? 'is invalid')
  }
  const manifest = parsed.data
  const { dataShards: k, parityShards: m, segmentSize } = manifest.params
  // Every file has at least one segment: the last one carries the AEAD "final"
  // flag, which is how a reader knows the file was not cut short. An empty file is
  // one empty final segment (ciphertext = the tag alone).
  if (manifest.segments.length === 0) invalid(['segments'], 'must list at least one segment (an empty file has one empty segment)')
  const last = manifest.segments.length - 1
  const full = segmentSize + AEAD_TAG_SIZE
  manifest.segments.forEach((segment, s) => {
    const at = (...rest: PropertyKey[]): PropertyKey[] => ['segments', s, ...rest]
    if (segment.index !== s) invalid(at('index'), `must be ${s} (segments are listed in order from 0)`)
    if (s < last && segment.cipherSize !== full) invalid(at('cipherSize'), `must be segmentSize + ${AEAD_TAG_SIZE} = ${full} (only the last segment may be shorter)`)
    if (segment.cipherSize > full) invalid(at('cipherSize'), `must be at most segmentSize + ${AEAD_TAG_SIZE} = ${full}`)
    if (segment.cipherSize < AEAD_TAG_SIZE || (segment.cipherSize === AEAD_TAG_SIZE && last !== 0)) {
      invalid(at('cipherSize'), `must be more than the ${AEAD_TAG_SIZE}-byte tag (only the single segment of an empty file is empty)`)
    }
    const shardSize = segment.shardSize
    if (shardSize === 0 || shardSize % SHARD_ALIGNMENT !== 0) invalid(at('shardSize'), `must be a positive multiple of ${SHARD_ALIGNMENT}`)
    if (shardSize > MAX_PIECE_SIZE) invalid(at('shardSize'), `must be at most ${MAX_PIECE_SIZE}`)
    if (k * shardSize < segment.cipherSize) invalid(at('shardSize'), `is too small: ${k} shards of ${shardSize} bytes cannot hold ${segment.cipherSize} bytes`)
    // The smallest aligned size that fits (what shardSizeFor gives): more padding
    // would only waste space on every holder.
    if (shardSize > SHARD_ALIGNMENT && k * (shardSize - SHARD_ALIGNMENT) >= segment.cipherSize) {
      invalid(at('shardSize'), `is larger than needed for ${segment.cipherSize} bytes in ${k} shards`)
    }
    if (segment.pieces.length !== k + m) invalid(at('pieces'), `must list k + m = ${k + m} pieces, got ${segment.pieces.length}`)
    segment.pieces.forEach((piece, p) => {
      if (piece.size !== shardSize) invalid(at('pieces', p, 'size'), `must equal the segment's shardSize ${shardSize}`)
    })
  })
  return manifest
}

/**
 * Protocol and pipeline constants, written as multiples of units so their
 * magnitude reads at a glance. Where a number is a trade-off, the comment says which.
 */

export const KiB = 1024
export const MiB = 1024 * KiB
export const GiB = 1024 * MiB

export const millisecond = 1
export const second = 1000 * millisecond
export const minute = 60 * second
export const hour = 60 * minute

/** Wire protocol version; a peer with another major version is refused at the handshake. */
export const PROTOCOL_VERSION = 2

/** Manifest format version (2: piece ids are BLAKE3 Merkle roots; 1 used SHA-256). */
export const MANIFEST_VERSION = 2

/**
 * Plaintext bytes per segment. Bounds client memory (a few segments in flight)
 * while keeping the piece count of large files modest: 8 MiB with 4+2 gives
 * 2 MiB pieces, 6 pieces per segment.
 */
export const DEFAULT_SEGMENT_SIZE = 8 * MiB
export const MIN_SEGMENT_SIZE = 4 * KiB
export const MAX_SEGMENT_SIZE = 64 * MiB

export const DEFAULT_DATA_SHARDS = 4
export const DEFAULT_PARITY_SHARDS = 2

/**
 * Merkle leaf size. A piece id is the Merkle root over leaves of this size, so it
 * is part of the id's definition and must never change within a protocol version.
 * 16 KiB keeps per-leaf hashing overhead small (one hash call per 16 KiB) while an
 * audit answer stays small (one leaf plus log2(leaves) hashes).
 */
export const LEAF_SIZE = 16 * KiB

/** Largest piece a node accepts: a maximal segment split into a single data shard, plus tag and padding. */
export const MAX_PIECE_SIZE = MAX_SEGMENT_SIZE + 64 * KiB

/** Largest encoded frame header. Headers are small; anything bigger is an attack or a bug. */
export const MAX_HEADER_SIZE = 64 * KiB

/** Most Merkle leaves one audit request may challenge. */
export const MAX_AUDIT_LEAVES = 64

/** Default deadline for one request (connect, handshake, small ops). */
export const DEFAULT_REQUEST_TIMEOUT = 30 * second

/** Idle timeout for a body that stops flowing mid-transfer. */
export const DEFAULT_IDLE_TIMEOUT = 30 * second

/** Accepted clock skew for signed requests (delete); outside it the request is stale. */
export const SIGNED_REQUEST_WINDOW = 5 * minute

/** AES-256-GCM tag length appended to every encrypted segment. */
export const AEAD_TAG_SIZE = 16

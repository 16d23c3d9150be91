import type { AbortOptions } from '../core/abort.js'
import type { PieceId } from '../core/ids.js'
import type { PieceBody } from './body.js'

/** What a store knows about one piece, apart from its bytes. */
export interface PieceMeta {
  id: PieceId
  /** Piece length in bytes. */
  size: number
  /** Hex (64 lowercase chars) raw Ed25519 public keys of the clients that asked us to keep the piece. */
  owners: string[]
  /** When the piece first became visible in this store (ms since the epoch). */
  storedAt: number
}

/**
 * Space accounting, in piece bytes. `free = max(0, capacity - used - reserved)`;
 * `used` can exceed `capacity` when an operator lowers the capacity of a full node.
 */
export interface StoreStats {
  capacity: number
  used: number
  /** Bytes promised to puts that are still streaming. */
  reserved: number
  free: number
  pieces: number
}

/** An audit answer: the challenged leaves as stored, with their Merkle proofs. */
export interface AuditProof {
  leafCount: number
  /** `leaves[i]` is the leaf data for the i-th requested index, read from the piece bytes. */
  leaves: Buffer[]
  /** `proofs[i]` are the sibling hashes for `leaves[i]`, in the order `buildProof()` makes them. */
  proofs: Buffer[][]
}

/** Options of {@link PieceStore.put}. */
export interface PutOptions extends AbortOptions {
  /** Hex raw Ed25519 public key (64 hex chars) of the client that pays for the piece. */
  owner: string
}

/** Options of {@link PieceStore.get}: the byte range, defaulting to the whole piece. */
export interface GetOptions extends AbortOptions {
  offset?: number
  length?: number
}

/** A stream over (part of) a piece. */
export interface PieceReadResult {
  /** Number of bytes the stream yields (the range length, not the piece size). */
  size: number
  stream: NodeJS.ReadableStream & AsyncIterable<Buffer>
  /**
   * Lets the store reuse the memory the stream's chunks are views of. Call it once nothing reads
   * them any more (a socket has written them out) — or never: the memory is then left to the GC.
   * Absent when the chunks are the reader's own.
   */
  release?: () => void
}

/**
 * The piece store of a BatNode: content-addressed blobs (id = Merkle root of the bytes)
 * with owners and a capacity. Every method validates its id as untrusted input.
 */
export interface PieceStore {
  /** Space accounting right now (synchronous: the store keeps it in memory). */
  stats (): StoreStats
  /** Whether the piece is fully stored and visible. */
  has (id: PieceId, options?: AbortOptions): Promise<boolean>
  /** Metadata of a piece, or undefined when it is not stored. */
  stat (id: PieceId, options?: AbortOptions): Promise<PieceMeta | undefined>
  /**
   * Streams `size` bytes from `body` into the store. Reserves `size` against capacity BEFORE reading
   * (CapacityExceededError without consuming the body), verifies the Merkle root equals `id` and the
   * byte count equals `size` before the piece becomes visible (PieceHashMismatchError /
   * InvalidArgumentError), and adds `owner`. If the piece already exists: consume and discard the
   * body, add the owner, created=false.
   */
  put (id: PieceId, size: number, body: PieceBody, options: PutOptions): Promise<{ created: boolean }>
  /** Adds an owner to an existing piece (PieceNotFoundError if absent). */
  addOwner (id: PieceId, owner: string, options?: AbortOptions): Promise<void>
  /**
   * A readable stream over [offset, offset+length) of the piece (defaults: whole piece).
   * PieceNotFoundError if absent; InvalidArgumentError if the range is outside the piece.
   */
  get (id: PieceId, options?: GetOptions): Promise<PieceReadResult>
  /** Reads the requested leaves from the stored bytes and their Merkle proofs. Indices out of range → InvalidArgumentError. */
  audit (id: PieceId, indices: readonly number[], options?: AbortOptions): Promise<AuditProof>
  /**
   * Removes `owner` from the piece; when no owners remain the piece is deleted and its space freed.
   * NotOwnerError if `owner` is not an owner. Returns whether the bytes were deleted.
   */
  removeOwner (id: PieceId, owner: string, options?: AbortOptions): Promise<{ deleted: boolean }>
  /** Ids of all stored pieces (a snapshot taken when iteration starts). */
  list (options?: AbortOptions): AsyncIterable<PieceId>
  /** Waits for operations in flight, then refuses new ones (StoreError). */
  close (): Promise<void>
}

/**
 * Every error BatChain raises, in one place. Each class has a stable `code`
 * (BATCHAIN_ERR_*): errors cross process and network boundaries as codes, never
 * as prose, so a client can tell a full disk from a forged delete without
 * parsing messages.
 */

export interface BatchainErrorOptions {
  cause?: unknown
  /** Extra machine-readable detail (piece id, node, limits). Never keys. */
  details?: Record<string, unknown>
}

export class BatchainError extends Error {
  /** Stable identifier; part of the wire protocol and of `--json` output. */
  readonly code: string = 'BATCHAIN_ERR_INTERNAL'
  readonly details: Record<string, unknown> | undefined

  constructor (message: string, options: BatchainErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.details = options.details
  }

  toJSON (): { code: string, message: string, details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details }
  }
}

/** Thrown when an operation is cancelled through its AbortSignal. */
export class AbortError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_ABORTED'
  constructor (message = 'The operation was aborted', options?: BatchainErrorOptions) { super(message, options) }
}

/** Thrown when an operation does not finish within its deadline. */
export class TimeoutError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_TIMEOUT'
  constructor (message = 'The operation timed out', options?: BatchainErrorOptions) { super(message, options) }
}

/** Thrown when an argument or option given by a caller is out of range or malformed. */
export class InvalidArgumentError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_INVALID_ARGUMENT'
}

/** Thrown when a piece id is not 64 lowercase hex characters (also stops path traversal). */
export class InvalidPieceIdError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_INVALID_PIECE_ID'
  constructor (message = 'Piece id must be 64 lowercase hex characters', options?: BatchainErrorOptions) { super(message, options) }
}

/** Thrown when bytes do not hash to the piece id they were sent or stored under. */
export class PieceHashMismatchError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_PIECE_HASH_MISMATCH'
  constructor (message = 'Piece bytes do not match the piece id', options?: BatchainErrorOptions) { super(message, options) }
}

/** Thrown when a node does not hold the requested piece. */
export class PieceNotFoundError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_PIECE_NOT_FOUND'
  constructor (message = 'Piece not found', options?: BatchainErrorOptions) { super(message, options) }
}

/** Thrown when a put would exceed the node's configured capacity. */
export class CapacityExceededError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_CAPACITY_EXCEEDED'
  constructor (message = 'Not enough free capacity for this piece', options?: BatchainErrorOptions) { super(message, options) }
}

/** Thrown when the disk itself is full (ENOSPC) while writing a piece. */
export class DiskFullError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_DISK_FULL'
  constructor (message = 'The disk is full', options?: BatchainErrorOptions) { super(message, options) }
}

/** Thrown when a piece is larger than the protocol allows. */
export class PieceTooLargeError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_PIECE_TOO_LARGE'
  constructor (message = 'Piece is larger than allowed', options?: BatchainErrorOptions) { super(message, options) }
}

/** Thrown when a signature (delete, put ownership, handshake) does not verify. */
export class InvalidSignatureError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_INVALID_SIGNATURE'
  constructor (message = 'Signature does not verify', options?: BatchainErrorOptions) { super(message, options) }
}

/** Thrown when a delete is signed by a key that does not own the piece. */
export class NotOwnerError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_NOT_OWNER'
  constructor (message = 'The signing key does not own this piece', options?: BatchainErrorOptions) { super(message, options) }
}

/** Thrown when a signed request is too old or from the future (replay protection). */
export class StaleRequestError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_STALE_REQUEST'
  constructor (message = 'Signed request is outside the accepted time window', options?: BatchainErrorOptions) { super(message, options) }
}

/** Thrown when a frame cannot be parsed: bad magic, bad lengths, bad header encoding. */
export class MalformedFrameError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_MALFORMED_FRAME'
}

/** Thrown when a frame header is larger than the protocol allows. */
export class FrameTooLargeError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_FRAME_TOO_LARGE'
}

/** Thrown when a frame names an operation this node does not know. */
export class UnknownOperationError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_UNKNOWN_OPERATION'
}

/** Thrown when a frame header does not match the schema of its operation. */
export class InvalidHeaderError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_INVALID_HEADER'
}

/** Thrown when the peer speaks another protocol version or fails the handshake. */
export class HandshakeError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_HANDSHAKE'
}

/** Thrown when the connection closes before a request completed. */
export class ConnectionClosedError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_CONNECTION_CLOSED'
  constructor (message = 'Connection closed before the request completed', options?: BatchainErrorOptions) { super(message, options) }
}

/** Thrown when a peer cannot be reached at all. */
export class PeerUnreachableError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_PEER_UNREACHABLE'
}

/** Thrown by a client when the remote side answered with an error frame; carries the remote code. */
export class RemoteError extends BatchainError {
  override readonly code: string
  constructor (code: string, message: string, options?: BatchainErrorOptions) {
    super(message, options)
    this.code = /^BATCHAIN_ERR_[A-Z0-9_]{1,64}$/.test(code) ? code : 'BATCHAIN_ERR_REMOTE'
  }
}

/** Thrown when authenticated decryption fails: the data was tampered with or the key is wrong. */
export class DecryptionError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_DECRYPTION_FAILED'
  constructor (message = 'Authentication failed: data was tampered with or the key is wrong', options?: BatchainErrorOptions) { super(message, options) }
}

/** Thrown when a capability string cannot be parsed. */
export class InvalidCapabilityError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_INVALID_CAPABILITY'
}

/** Thrown when an operation needs a read capability but got a verify capability. */
export class CapabilityLacksKeyError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_CAPABILITY_LACKS_KEY'
  constructor (message = 'This operation needs a read capability (with key); a verify capability was given', options?: BatchainErrorOptions) { super(message, options) }
}

/** Thrown when a manifest is malformed, of an unknown version, or inconsistent. */
export class InvalidManifestError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_INVALID_MANIFEST'
}

/** Thrown when the erasure coder is given inconsistent shards or parameters. */
export class ErasureError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_ERASURE'
}

/** Thrown when fewer than k good pieces of a segment could be fetched. */
export class NotEnoughPiecesError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_NOT_ENOUGH_PIECES'
}

/** Thrown when there are not enough distinct nodes to place a segment's pieces. */
export class NotEnoughNodesError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_NOT_ENOUGH_NODES'
}

/** Thrown when the whole-file hash of a download does not match the sealed manifest. */
export class FileHashMismatchError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_FILE_HASH_MISMATCH'
  constructor (message = 'Downloaded file does not match its recorded hash', options?: BatchainErrorOptions) { super(message, options) }
}

/** Thrown when the store's data directory is unusable (permissions, corrupt identity). */
export class StoreError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_STORE'
}

/** Thrown by Dht.join when no seed and no remembered peer answered. */
export class DhtJoinError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_DHT_JOIN'
}

/** Thrown when a DHT peer does not answer an RPC within its deadline (the peer is then evicted). */
export class DhtTimeoutError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_DHT_TIMEOUT'
  constructor (message = 'DHT peer did not answer in time', options?: BatchainErrorOptions) { super(message, options) }
}

/** Thrown when a DHT peer answered an RPC with an error, or with an answer that is not well-formed. */
export class DhtRpcError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_DHT_RPC'
}

/** A DHT request whose payload is malformed or fails its schema (sent back as the JSON-RPC error's data.code). */
export class DhtBadRequestError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_DHT_BAD_REQUEST'
}

/**
 * Thrown when a node's signed NodeInfo does not verify: bad signature, node id not the hash of its
 * key, or a KadNode identity that is not dhtKeyOf(node id), or another node than expected answered.
 */
export class DhtInvalidNodeInfoError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_DHT_INVALID_NODE_INFO'
}

/** Thrown by a Dht operation started after (or cut short by) stop(). */
export class DhtStoppedError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_DHT_STOPPED'
  constructor (message = 'The DHT node is stopped', options?: BatchainErrorOptions) { super(message, options) }
}

/** Thrown when a directory holds no testnet (no testnet.json, or no bootstrap.txt for a client). */
export class TestnetNotFoundError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_TESTNET_NOT_FOUND'
}

/** Thrown when a testnet's state file (testnet.json) or bootstrap list is unreadable, corrupt or of an unknown version. */
export class TestnetStateError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_TESTNET_STATE'
}

/** Thrown by `testnet up` when processes of the testnet in that directory are still running, or another up/down holds its lock. */
export class TestnetRunningError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_TESTNET_RUNNING'
}

/** Thrown when a testnet process could not be started: it exited, or was not ready in time. */
export class TestnetStartError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_TESTNET_START'
}

/** Thrown when a job's payload does not match its queue's schema (unknown job name, malformed data, a key where only a verify capability belongs): the job fails for good, it is never retried. */
export class JobPayloadError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_JOB_PAYLOAD'
}

/** Thrown when a worker is asked to serve a queue that has no processor in this version (its jobs are left waiting, never completed unprocessed). */
export class NoProcessorError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_NO_PROCESSOR'
}

/** Thrown when Redis cannot be reached (connection refused, not ready in time, dropped while a producer had no offline queue). */
export class RedisUnavailableError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_REDIS_UNAVAILABLE'
}

/** Thrown when a node registry record in Redis does not parse (written by something else, or corrupted). */
export class RegistryCorruptError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_REGISTRY_CORRUPT'
}

/** Thrown when a process acts as the schedulers' leader without holding the leader lock (it lost it, or never had it). */
export class NotLeaderError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_NOT_LEADER'
}

/** Maps any thrown value to a stable code, for wire error frames and `--json` output. */
export function errorCode (err: unknown): string {
  if (err instanceof BatchainError) return err.code
  const code = (err as { code?: unknown } | null)?.code
  if (code === 'ENOSPC') return 'BATCHAIN_ERR_DISK_FULL'
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'BATCHAIN_ERR_PEER_UNREACHABLE'
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'BATCHAIN_ERR_CONNECTION_CLOSED'
  if ((err as { name?: unknown } | null)?.name === 'AbortError') return 'BATCHAIN_ERR_ABORTED'
  return 'BATCHAIN_ERR_INTERNAL'
}

/** One-line human reason for any thrown value. */
export function errorMessage (err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? err.message
  return String(err)
}

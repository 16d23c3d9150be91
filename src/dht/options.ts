import type { Logger } from '../core/logger.js'
import type { Identity } from '../crypto/keys.js'
import type { LocalNodeFacts, NodeRole } from './types.js'

/** Options of createDht. Times are in milliseconds; small values are allowed (tests use them). */
export interface DhtOptions {
  /**
   * The node's Ed25519 identity. Its node id (sha256 of the public key) is the Dht's nodeId, and
   * dhtKeyOf(nodeId) — the first 160 bits — is the KadNode identity, so the piece server's
   * handshake key and the KadNode are provably one node.
   */
  identity: Identity
  /**
   * 'storage' and 'bootstrap' are servers: they enter routing tables, keep records for others,
   * persist state in dataDir and answer every RPC. 'client' queries everything, but every message
   * it sends says so and no node adds it to a routing table; it keeps no records.
   */
  role: NodeRole
  /** Address the UDP socket binds to. @defaultValue '127.0.0.1' */
  host?: string
  /** UDP port; 0 picks a free one (see address()). @defaultValue 0 */
  port?: number
  /** IP address announced to peers when it differs from `host` (a wildcard host announces 127.0.0.1 unless this is set). */
  announceHost?: string
  /**
   * Servers: directory for peers.json (the routing table, rejoined after a restart) and
   * pointers.json (records held for others). Created if missing. Without it nothing persists.
   */
  dataDir?: string
  /** Live facts for this node's INFO answers, read on every INFO. @defaultValue no piece server, capacity 0, reachability 'direct' */
  facts?: () => LocalNodeFacts
  /** Package version carried in INFO. @defaultValue the package.json version */
  version?: string
  /** @defaultValue createLogger('dht') */
  logger?: Logger

  /** Lookup parallelism (Kademlia's α). @defaultValue 3 */
  alpha?: number
  /**
   * R: how many of the nodes closest to a piece store its pointer records (and how many closest to
   * a node store its contact record). More survives more churn between refreshes; each costs one
   * RPC per publish. @defaultValue 8
   */
  replication?: number
  /** Deadline of one RPC; a peer that misses it is evicted from the routing table. @defaultValue 2000 */
  rpcTimeoutMs?: number
  /** RPCs (or per-piece operations) one publish/find/near call runs at once. @defaultValue 8 */
  concurrency?: number
  /** How long a verified INFO answer is reused by storageNodesNear and info. 0 disables. @defaultValue 2000 */
  infoCacheMs?: number

  /** How often expired pointer and contact records held for others are swept. @defaultValue 60_000 */
  sweepIntervalMs?: number
  /** Servers: how often the node republishes its own contact record (and looks up its own key). @defaultValue 20 min */
  contactRefreshMs?: number
  /** How long contact records held for others live after they were issued (> contactRefreshMs). @defaultValue 1 h */
  contactTtlMs?: number
  /** Servers: how often buckets are refreshed with lookups of random keys in their range. @defaultValue 1 h */
  bucketRefreshMs?: number
  /** Servers: delay before a changed routing table or record set is written to dataDir. @defaultValue 5000 */
  saveDelayMs?: number

  /** Pointer records held for others, at most. @defaultValue 200_000 */
  maxPointerRecords?: number
  /** Holders kept per piece. @defaultValue 64 */
  maxHoldersPerPiece?: number
  /** Contact records held for others, at most. @defaultValue 20_000 */
  maxContactRecords?: number
}

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  alpha: 3,
  replication: 8,
  rpcTimeoutMs: 2000,
  concurrency: 8,
  infoCacheMs: 2000,
  sweepIntervalMs: 60_000,
  contactRefreshMs: 20 * 60_000,
  contactTtlMs: 60 * 60_000,
  bucketRefreshMs: 60 * 60_000,
  saveDelayMs: 5000
} as const

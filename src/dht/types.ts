import type { AbortOptions } from '../core/abort.js'
import type { NodeId, PieceId } from '../core/ids.js'
import type { PointerRecord } from '../crypto/pointer.js'

/**
 * The seam between BatChain and its Kademlia implementation. Everything outside src/dht talks to
 * this interface; only the kadence adapter (src/dht/kadence-*.ts) imports @kadenceproject/kadence.
 *
 * Keys: kadence's keyspace is 160 bits, our ids (piece ids, node ids) are 256-bit SHA-256 outputs.
 * A DhtKey is the first 160 bits (40 hex chars) of such an id (dhtKeyOf). SHA-256 output is
 * uniform, so its prefix is a uniform 160-bit key; a KadNode's identity is the same prefix of its
 * node id, so "nodes closest to a piece" means the same thing in both spaces.
 */

/** 40 lowercase hex chars: a 160-bit Kademlia key. */
export type DhtKey = string & { readonly __brand: 'DhtKey' }

/** Where a KadNode answers RPCs (UDP or HTTP, per the adapter). */
export interface DhtAddress { host: string, port: number }

/** A KadNode as routing tables and lookups see it. */
export interface DhtPeer extends DhtAddress { key: DhtKey }

export type NodeRole = 'storage' | 'bootstrap' | 'client'

/** How other nodes can reach this one (the NAT layer fills in more than 'direct' later). */
export type Reachability = 'direct' | 'unknown'

/**
 * What a node says about itself, signed with its Ed25519 identity: the answer of our plugin's INFO
 * RPC and the record a node publishes under its own key. The same key signs piece-server
 * handshakes, so a verified NodeInfo proves the KadNode and the BatNode are one node:
 * nodeId = sha256(publicKey) and the KadNode identity = dhtKeyOf(nodeId).
 */
export interface NodeInfo {
  nodeId: NodeId
  /** Raw Ed25519 public key, base64url. */
  publicKey: string
  role: NodeRole
  /** The KadNode's address. */
  dht: DhtAddress
  /** The paired BatNode's piece server; storage nodes only. */
  piece?: DhtAddress
  /** Bytes of pieces the node accepts in total, and bytes still free (0 for bootstraps). */
  capacity: number
  free: number
  /** Package version and piece protocol version. */
  version: string
  protocolVersion: number
  /** Failure domain label (rack, zone, host); placement spreads a segment over distinct zones. */
  zone?: string
  reachability: Reachability
  /** ms since the epoch; the newest signed info of a node wins. */
  issuedAt: number
  /** Ed25519 over the canonical bytes of every other field, base64url. */
  signature: string
}

/** The result of an iterative lookup. */
export interface LookupResult {
  /** Closest first (XOR distance to the key), at most `count`, only peers that answered. */
  peers: DhtPeer[]
  /** Rounds of the iterative lookup that brought a closer peer (what "hops" means in the benchmark). */
  hops: number
  /** RPCs sent. */
  queried: number
}

export interface ClosestOptions extends AbortOptions {
  /** @defaultValue K (20) */
  count?: number
}

export interface NearOptions extends AbortOptions {
  /** How many storage nodes to return at most. */
  count: number
  /** Node ids to leave out (already used, failed). */
  exclude?: ReadonlySet<NodeId>
  /** Leave out nodes with less free space than this many bytes. @defaultValue 1 */
  minFree?: number
}

export interface PublishResult {
  /** Records accepted by at least one node. */
  stored: number
  /** Records no node accepted (the caller may retry; the holder refreshes them anyway). */
  failed: number
}

/**
 * A KadNode (role storage or bootstrap) or a lookup-only client (role client: it queries, but other
 * nodes never put it into their routing tables, so short-lived CLI processes do not pollute them).
 */
export interface Dht {
  readonly role: NodeRole
  readonly nodeId: NodeId
  /** dhtKeyOf(nodeId): the KadNode identity. */
  readonly key: DhtKey
  /** Where this node listens. */
  address: () => DhtAddress

  /**
   * Joins through the seeds (bootstrap addresses) and, for servers, the peers persisted from the
   * last run. Succeeds when at least one answered; a seed that is down is skipped and logged.
   * Throws DhtJoinError (BATCHAIN_ERR_DHT_JOIN) when none did.
   */
  join: (seeds: readonly DhtAddress[], options?: AbortOptions) => Promise<{ contacted: number }>

  /** Iterative FIND_NODE: the peers closest to `key` that answered. */
  closest: (key: DhtKey, options?: ClosestOptions) => Promise<LookupResult>

  /**
   * Storage nodes near `key` with free space, as verified NodeInfo, closest first. Asks the peers
   * from closest() for INFO (in parallel, bounded); peers that do not answer are evicted.
   */
  storageNodesNear: (key: DhtKey, options: NearOptions) => Promise<NodeInfo[]>

  /** INFO of the node at `address`, verified (signature, nodeId = sha256(publicKey), key binding). */
  info: (address: DhtAddress, options?: AbortOptions) => Promise<NodeInfo>

  /**
   * The current, verified NodeInfo of a node found by id (a node that came back on another host or
   * port is found at its new address), or undefined when it cannot be found or does not answer.
   */
  findNode: (nodeId: NodeId, options?: AbortOptions) => Promise<NodeInfo | undefined>

  /** Stores pointer records on the nodes closest to each record's piece (STORE_POINTERS RPC). */
  publishPointers: (records: readonly PointerRecord[], options?: AbortOptions) => Promise<PublishResult>

  /** Verified, unexpired pointer records for a piece, one per holder (the newest), from the closest nodes. */
  findPointers: (pieceId: PieceId, options?: FindPointersOptions) => Promise<PointerRecord[]>

  /**
   * `findPointers(id, { fast: true })` for many pieces at once, with the first hop batched: each
   * piece is asked of the closest peer this node knows, with one FIND_POINTERS_MANY per peer
   * for all the pieces it should answer; only pieces that found no records that way get a lookup
   * of their own. A download locating a few segments' pieces makes a handful of requests instead
   * of a few per piece. Any holder will do: at most MAX_RECORDS_PER_PIECE_IN_BATCH per piece.
   *
   * With `complete`, `findPointers(id)` (every holder) for many pieces at once: each piece's R
   * closest are found as findPointers finds them, then asked in batches, one FIND_POINTERS_MANY per
   * peer for all the pieces it is a replica of (the rest of the K closest for pieces none of them
   * knew). An answer cut at the batch limit is asked again alone. A health check of a file then
   * costs a request per replica per 16 pieces instead of one per replica per piece.
   */
  findPointersMany: (pieceIds: readonly PieceId[], options?: FindPointersManyOptions) => Promise<Map<PieceId, PointerRecord[]>>

  /** Peers in the routing table right now. */
  peers: () => DhtPeer[]

  /** Leaves the network: persists the routing table (servers), closes sockets, stops timers. */
  stop: () => Promise<void>
}

/** Live facts about the paired BatNode that a server's INFO answers carry (read on every INFO). */
export interface LocalNodeFacts {
  piece?: DhtAddress
  capacity: number
  free: number
  zone?: string
  reachability: Reachability
}

/** Options of Dht.findPointersMany. */
export interface FindPointersManyOptions extends AbortOptions {
  /** Every holder each piece's closest nodes know of, not just some (see findPointersMany). */
  complete?: boolean
}

/** Options of Dht.findPointers. */
export interface FindPointersOptions extends AbortOptions {
  /**
   * Any holder will do (a download, which falls back to a complete lookup when a segment runs
   * short): a Kademlia FIND_VALUE that stops at the second answer with records. Without it the
   * lookup is complete: the R closest nodes are all asked and their records merged, so holders
   * whose records churn put on different nodes are all found (health checks, audits, repairs).
   */
  fast?: boolean
}

/**
 * Discovery: the Dht interface (types.ts) and its kadence adapter. Only this folder imports
 * @kadenceproject/kadence.
 */
export type {
  ClosestOptions, Dht, DhtAddress, DhtKey, DhtPeer, FindPointersManyOptions, FindPointersOptions, LocalNodeFacts, LookupResult, NearOptions, NodeInfo, NodeRole, PublishResult, Reachability
} from './types.js'
export { createDht, K } from './dht.js'
export type { DhtOptions } from './options.js'
export { bucketIndex, byDistanceTo, compareDistance, DHT_KEY_HEX, dhtKeyOf, isDhtKey, sortByDistance, toDhtKey, xorDistance } from './keys.js'
export { checkNodeInfo, signNodeInfo, type NodeInfoCheck } from './node-info.js'
export { MAX_POINTERS_PER_RPC, RPC } from './plugin.js'

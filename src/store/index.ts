/** The piece store of a BatNode: content-addressed pieces on disk (or in memory for tests), with owners and a capacity. */
export type { AuditProof, GetOptions, PieceMeta, PieceReadResult, PieceStore, PutOptions, StoreStats } from './types.js'
export { createDiskStore, type DiskStoreInit } from './disk-store.js'
export { createMemoryStore } from './memory-store.js'
export { MAX_OWNERS } from './validate.js'

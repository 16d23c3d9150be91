export type { Manifest, ManifestParams, PieceRef, SealedInfo, SegmentLayout } from './manifest.js'
export { encodeManifest, decodeManifest } from './manifest-codec.js'
export { sealInfo, openSealed, MAX_NAME_BYTES } from './seal.js'
export { validateManifest, MAX_MANIFEST_SIZE, MANIFEST_MAX_DATA_SHARDS, MANIFEST_MAX_PARITY_SHARDS } from './manifest-schema.js'

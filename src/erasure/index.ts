export {
  createErasureCoder,
  shardSizeFor,
  nativeBackendAvailable,
  MAX_DATA_SHARDS,
  MAX_PARITY_SHARDS,
  SHARD_ALIGNMENT,
  NATIVE_BACKEND,
  JS_BACKEND,
  type ErasureCoder,
  type EncodeOptions
} from './erasure-coder.js'

import { join } from 'node:path'
import { mkdir } from 'node:fs/promises'
import type { AbortOptions } from '../core/abort.js'
import { createLogger, type Logger } from '../core/logger.js'
import { loadOrCreateIdentity, type Identity } from '../crypto/keys.js'
import { createDiskStore, type PieceStore } from '../store/index.js'
import { createPieceServer, type PieceServer } from '../transfer/index.js'

export interface StorageNodeInit {
  /** Holds pieces and the node key (node.key). */
  dataDir: string
  /** @defaultValue '127.0.0.1' */
  host?: string
  /** 0 picks a free port. @defaultValue 0 */
  port?: number
  /** Bytes of pieces this node accepts. */
  capacity: number
  logger?: Logger
}

export interface StorageNode {
  readonly identity: Identity
  readonly store: PieceStore
  readonly server: PieceServer
  address: () => { host: string, port: number }
  stop: () => Promise<void>
}

/**
 * A storage node: the identity kept in the data dir, the on-disk piece store and
 * the piece server. (The paired KadNode joins this composition with discovery.)
 */
export async function startStorageNode (init: StorageNodeInit, options: AbortOptions = {}): Promise<StorageNode> {
  const logger = init.logger ?? createLogger('node')
  await mkdir(init.dataDir, { recursive: true, mode: 0o700 })
  const identity = await loadOrCreateIdentity(join(init.dataDir, 'node.key'), options)
  const store = await createDiskStore({ dir: join(init.dataDir, 'store'), capacity: init.capacity }, options)
  const server = createPieceServer({ store, identity, host: init.host ?? '127.0.0.1', port: init.port ?? 0, logger: logger.child({ nodeId: identity.id.slice(0, 12) }) })
  try {
    await server.start()
  } catch (err) {
    await store.close()
    throw err
  }
  let stopping: Promise<void> | undefined
  return {
    identity,
    store,
    server,
    address: () => server.address(),
    stop: async () => {
      stopping ??= (async () => {
        await server.stop()
        await store.close()
      })()
      await stopping
    }
  }
}

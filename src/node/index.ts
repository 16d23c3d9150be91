import { join } from 'node:path'
import { mkdir } from 'node:fs/promises'
import type { AbortOptions } from '../core/abort.js'
import { hour, minute } from '../core/constants.js'
import { createLogger, type Logger } from '../core/logger.js'
import { VERSION } from '../core/version.js'
import { loadOrCreateIdentity, type Identity } from '../crypto/keys.js'
import { createDht, type Dht, type DhtAddress } from '../dht/index.js'
import { createDiskStore, type PieceStore } from '../store/index.js'
import { createPieceServer, type PieceServer } from '../transfer/index.js'
import { startPointerRefresher, type PointerRefresher } from './pointer-refresher.js'

export type ServerRole = 'storage' | 'bootstrap'

export interface NodeInit {
  /** storage: BatNode + KadNode; bootstrap: a KadNode seed only. @defaultValue 'storage' */
  role?: ServerRole
  /** Holds the node key (node.key), pieces (store/) and the DHT's state (routing table, records). */
  dataDir: string
  /** Address both servers listen on. @defaultValue '127.0.0.1' */
  host?: string
  /** Piece server port (storage); 0 picks a free one. @defaultValue 0 */
  port?: number
  /** KadNode port; 0 picks a free one. @defaultValue 0 */
  dhtPort?: number
  /** Seeds to join through; none for the first bootstrap of a network. @defaultValue [] */
  bootstrap?: readonly DhtAddress[]
  /** Bytes of pieces this node accepts (storage). */
  capacity?: number
  /** Failure domain label carried in the node's INFO. */
  zone?: string
  /** Lifetime of this node's pointer records. @defaultValue 24 h */
  pointerTtlMs?: number
  /** Time between republishes of all records. @defaultValue pointerTtlMs / 3 */
  pointerRefreshMs?: number
  logger?: Logger
}

export interface RunningNode {
  readonly role: ServerRole
  readonly identity: Identity
  readonly dht: Dht
  /** Storage nodes only. */
  readonly store: PieceStore | undefined
  readonly server: PieceServer | undefined
  readonly pointers: PointerRefresher | undefined
  /** Where the node listens: `port` is the piece server's (storage only). */
  address: () => { host: string, port?: number, dhtPort: number }
  stop: () => Promise<void>
}

export const DEFAULT_POINTER_TTL_MS = 24 * hour

/**
 * A BatChain server process: the identity kept in the data dir, and for role storage the on-disk
 * piece store and piece server (the BatNode) paired with a KadNode under the same identity; for
 * role bootstrap only the KadNode. Joining the DHT is best-effort at start: a node whose seeds are
 * all down still serves (and the seeds can join it), it logs the failure and retries once a minute.
 */
export async function startNode (init: NodeInit, options: AbortOptions = {}): Promise<RunningNode> {
  const role = init.role ?? 'storage'
  const logger = init.logger ?? createLogger('node')
  const host = init.host ?? '127.0.0.1'
  const pointerTtlMs = init.pointerTtlMs ?? DEFAULT_POINTER_TTL_MS
  await mkdir(init.dataDir, { recursive: true, mode: 0o700 })
  const identity = await loadOrCreateIdentity(join(init.dataDir, 'node.key'), options)
  const log = logger.child({ nodeId: identity.id.slice(0, 12), role })
  const cleanup: Array<() => Promise<void>> = []
  const undo = async (): Promise<void> => { for (const step of cleanup.reverse()) await step().catch(() => {}) }

  try {
    let store: PieceStore | undefined
    let server: PieceServer | undefined
    if (role === 'storage') {
      if (init.capacity === undefined) throw new TypeError('a storage node needs a capacity')
      const opened = await createDiskStore({ dir: join(init.dataDir, 'store'), capacity: init.capacity }, options)
      store = opened
      cleanup.push(async () => { await opened.close() })
      const started = createPieceServer({ store: opened, identity, host, port: init.port ?? 0, logger: log, pointerTtlMs })
      await started.start()
      server = started
      cleanup.push(async () => { await started.stop() })
    }

    const dht = await createDht({
      identity,
      role,
      host,
      port: init.dhtPort ?? 0,
      dataDir: join(init.dataDir, 'dht'),
      version: VERSION,
      logger: log,
      facts: () => {
        if (store === undefined || server === undefined) return { capacity: 0, free: 0, reachability: 'direct' }
        const stats = store.stats()
        return { piece: server.address(), capacity: stats.capacity, free: stats.free, zone: init.zone, reachability: 'direct' }
      }
    }, options)
    cleanup.push(async () => { await dht.stop() })

    const seeds = init.bootstrap ?? []
    const joinLoop = startJoinLoop(dht, seeds, log)
    cleanup.push(joinLoop.stop)

    let pointers: PointerRefresher | undefined
    if (store !== undefined) {
      const refresher = startPointerRefresher({ store, dht, identity, ttlMs: pointerTtlMs, intervalMs: init.pointerRefreshMs ?? Math.floor(pointerTtlMs / 3), logger: log })
      pointers = refresher
      cleanup.push(refresher.stop)
      // First publish once joined (a restarted node makes its pieces findable again at once).
      void joinLoop.joined.then(async () => await refresher.refresh()).catch((err: unknown) => {
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'initial pointer publish failed; the refresher retries')
      })
    }

    let stopping: Promise<void> | undefined
    return {
      role,
      identity,
      dht,
      store,
      server,
      pointers,
      address: () => {
        const d = dht.address()
        return server === undefined ? { host, dhtPort: d.port } : { host, port: server.address().port, dhtPort: d.port }
      },
      stop: async () => {
        stopping ??= undo()
        await stopping
      }
    }
  } catch (err) {
    await undo()
    throw err
  }
}

/**
 * Joins through the seeds (and the peers remembered from the last run); when none answers, keeps
 * retrying every minute in the background, bounded only by the node's lifetime. `joined` resolves on
 * the first success. Without seeds, one attempt through the remembered peers only.
 */
function startJoinLoop (dht: Dht, seeds: readonly DhtAddress[], log: Logger): { joined: Promise<void>, stop: () => Promise<void> } {
  const controller = new AbortController()
  if (seeds.length === 0) {
    // No seeds: a first bootstrap is its own network, but a restarted one rejoins through the
    // peers it remembers (the Dht reads them from its data dir); none answering is not an error.
    const joined = dht.join([], { signal: controller.signal }).then(({ contacted }) => {
      log.info({ contacted, peers: dht.peers().length }, 'rejoined through remembered peers')
    }, (err: unknown) => {
      if (!controller.signal.aborted) log.info({ reason: err instanceof Error ? err.message : String(err) }, 'no remembered peers answered; starting as a new network')
    })
    return { joined, stop: async () => { controller.abort() } }
  }
  let timer: NodeJS.Timeout | undefined
  const joined = new Promise<void>((resolve, reject) => {
    const attempt = (): void => {
      dht.join(seeds, { signal: controller.signal }).then(({ contacted }) => {
        log.info({ contacted, peers: dht.peers().length }, 'joined the DHT')
        resolve()
      }, (err: unknown) => {
        if (controller.signal.aborted) { reject(err); return }
        log.warn({ err: err instanceof Error ? err.message : String(err), retryInMs: minute }, 'could not join the DHT; retrying')
        timer = setTimeout(attempt, minute)
        timer.unref()
      })
    }
    attempt()
  })
  joined.catch(() => {})
  return {
    joined,
    stop: async () => {
      clearTimeout(timer)
      controller.abort()
    }
  }
}

export { startPointerRefresher, type PointerRefresher } from './pointer-refresher.js'

import type { AbortOptions } from '../core/abort.js'
import { errorMessage } from '../core/errors.js'
import type { PieceId } from '../core/ids.js'
import type { Logger } from '../core/logger.js'
import type { Identity } from '../crypto/keys.js'
import { signPointer } from '../crypto/pointer.js'
import type { Dht } from '../dht/types.js'
import type { PieceStore } from '../store/index.js'

export interface PointerRefresherOptions {
  store: PieceStore
  dht: Dht
  identity: Identity
  /** Lifetime of each published record. */
  ttlMs: number
  /** Time between two full republishes; must be well under ttlMs so records never lapse. */
  intervalMs: number
  /** Records per publishPointers call (bounds memory for stores with many pieces). @defaultValue 256 */
  batchSize?: number
  logger: Logger
}

export interface PointerRefresher {
  /** Republishes a record for every piece held now; resolves with the counts. Runs never overlap. */
  refresh: (options?: AbortOptions) => Promise<{ published: number, failed: number }>
  stop: () => Promise<void>
}

/**
 * Keeps this node's pointer records alive: one signed record per held piece, republished every
 * interval, so records expire on their own when the node (or a piece) is gone. Uploaders publish
 * the first record of a fresh piece themselves (from the PUT answer); this covers restarts, nodes
 * that came back, and uploaders that died before publishing.
 */
export function startPointerRefresher (options: PointerRefresherOptions): PointerRefresher {
  const batchSize = options.batchSize ?? 256
  const controller = new AbortController()
  let running: Promise<{ published: number, failed: number }> | undefined

  const runOnce = async (signal: AbortSignal): Promise<{ published: number, failed: number }> => {
    let published = 0
    let failed = 0
    let batch: PieceId[] = []
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return
      const records = batch.map(id => signPointer(options.identity, id, { ttlMs: options.ttlMs }))
      batch = []
      const result = await options.dht.publishPointers(records, { signal })
      published += result.stored
      failed += result.failed
    }
    for await (const id of options.store.list({ signal })) {
      batch.push(id)
      if (batch.length >= batchSize) await flush()
    }
    await flush()
    return { published, failed }
  }

  const refresh = async (abort: AbortOptions = {}): Promise<{ published: number, failed: number }> => {
    if (running !== undefined) return await running
    const signal = abort.signal === undefined ? controller.signal : AbortSignal.any([abort.signal, controller.signal])
    running = runOnce(signal).finally(() => { running = undefined })
    const result = await running
    options.logger.info(result, 'pointer records republished')
    return result
  }

  const tick = (): void => {
    refresh().catch((err: unknown) => {
      if (!controller.signal.aborted) options.logger.warn({ err: errorMessage(err) }, 'pointer refresh failed; will retry next interval')
    })
  }
  const timer = setInterval(tick, options.intervalMs)
  timer.unref()

  return {
    refresh,
    stop: async () => {
      clearInterval(timer)
      controller.abort()
      await running?.catch(() => {})
    }
  }
}

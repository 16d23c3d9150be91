import { raceSignal } from '../core/abort.js'

/**
 * One lock per key (piece id): operations that change a piece run one at a time, so
 * concurrent puts of the same id neither double-reserve nor race on the same files.
 * Waiting is abortable; an aborted waiter drops out without blocking those behind it.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>()

  /** Resolves with a release function once the caller holds the lock for `key`. */
  async acquire (key: string, signal?: AbortSignal): Promise<() => void> {
    const previous = this.tails.get(key) ?? Promise.resolve()
    let unlock!: () => void
    const held = new Promise<void>(resolve => { unlock = resolve })
    const tail = previous.then(async () => { await held })
    this.tails.set(key, tail)
    void tail.then(() => {
      // Drop the entry once nobody queued behind us, so the map does not grow with every id ever seen.
      if (this.tails.get(key) === tail) this.tails.delete(key)
    })
    try {
      await raceSignal(previous, signal)
    } catch (err) {
      unlock()
      throw err
    }
    return unlock
  }

  /** Runs `fn` while holding the lock for `key`. */
  async run<T> (key: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(key, signal)
    try {
      return await fn()
    } finally {
      release()
    }
  }
}

/**
 * A rate-limited work queue keyed by namespace/name, the shape of client-go's workqueue:
 *   - a key is queued at most once (adding a queued key is a no-op: events coalesce);
 *   - a key is processed by at most one worker at a time; an add while it is processed marks it
 *     dirty and it runs again once the current run ends (nothing is lost, nothing runs twice at once);
 *   - at most `concurrency` keys are processed at once;
 *   - a failed run is retried after a per-key exponential backoff (base · 2^failures, capped),
 *     reset by the next run that succeeds; a run may also ask to be requeued after a delay;
 *   - while paused (not the leader) keys are kept but nothing runs.
 */
export interface ProcessResult {
  /** Run the key again after this many ms (a poll: not a failure, backoff untouched). */
  requeueAfterMs?: number
  /** Not done yet for a reason that may go away (a missing ConfigMap): retry with the key's backoff. */
  backoff?: boolean
}

export interface WorkQueueInit {
  process: (key: string, signal: AbortSignal) => Promise<ProcessResult | undefined>
  concurrency?: number
  baseDelayMs?: number
  maxDelayMs?: number
  /** Called when a run throws (after the retry is scheduled). */
  onError?: (key: string, err: unknown, retryInMs: number) => void
  now?: () => number
}

export class WorkQueue {
  private readonly init: Required<Omit<WorkQueueInit, 'onError'>> & Pick<WorkQueueInit, 'onError'>
  private readonly queue: string[] = []
  private readonly queued = new Set<string>()
  private readonly active = new Map<string, AbortController>()
  private readonly dirty = new Set<string>()
  private readonly failures = new Map<string, number>()
  private readonly timers = new Map<string, { at: number, timer: NodeJS.Timeout }>()
  private running = false
  private stopped = false
  private idleWaiters: Array<() => void> = []
  /** Runs finished (for metrics and the bench). */
  processed = 0

  constructor (init: WorkQueueInit) {
    this.init = {
      concurrency: 4,
      baseDelayMs: 1000,
      maxDelayMs: 60_000,
      now: Date.now,
      ...init
    }
  }

  /** Queues a key now (coalesced with a queued or running one). */
  add (key: string): void {
    if (this.stopped) return
    if (this.active.has(key)) { this.dirty.add(key); return }
    if (this.queued.has(key)) return
    this.queued.add(key)
    this.queue.push(key)
    this.pump()
  }

  /** Queues a key after `ms` (an earlier pending delay wins). */
  addAfter (key: string, ms: number): void {
    if (this.stopped) return
    if (ms <= 0) { this.add(key); return }
    const at = this.init.now() + ms
    const existing = this.timers.get(key)
    if (existing !== undefined) {
      if (existing.at <= at) return
      clearTimeout(existing.timer)
    }
    const timer = setTimeout(() => { this.timers.delete(key); this.add(key) }, ms)
    timer.unref()
    this.timers.set(key, { at, timer })
  }

  /** Retries a key with its exponential backoff; returns the delay. */
  addRateLimited (key: string): number {
    const n = this.failures.get(key) ?? 0
    this.failures.set(key, n + 1)
    const delay = backoffDelay(n, this.init.baseDelayMs, this.init.maxDelayMs)
    this.addAfter(key, delay)
    return delay
  }

  /** Clears a key's failure count (its next failure waits the base delay again). */
  forget (key: string): void {
    this.failures.delete(key)
  }

  /** Drops every trace of a key (deleted object): pending timer, queue entry, failures. */
  drop (key: string): void {
    this.forget(key)
    const t = this.timers.get(key)
    if (t !== undefined) { clearTimeout(t.timer); this.timers.delete(key) }
    if (this.queued.delete(key)) this.queue.splice(this.queue.indexOf(key), 1)
    this.dirty.delete(key)
  }

  failuresOf (key: string): number {
    return this.failures.get(key) ?? 0
  }

  get length (): number {
    return this.queue.length
  }

  get activeCount (): number {
    return this.active.size
  }

  /** Starts running keys (leader). */
  resume (): void {
    if (this.stopped) return
    this.running = true
    this.pump()
  }

  /** Stops starting keys and aborts the running ones (leadership lost); keys stay queued. */
  pause (): void {
    this.running = false
    for (const ac of this.active.values()) ac.abort(new Error('work queue paused'))
  }

  /** Resolves when nothing is queued, running or waiting on a timer shorter than `horizonMs`. */
  async idle (): Promise<void> {
    if (this.queue.length === 0 && this.active.size === 0) return
    await new Promise<void>(resolve => this.idleWaiters.push(resolve))
  }

  /** Stops for good: aborts running keys, clears timers, waits for the running ones to end. */
  async stop (): Promise<void> {
    this.stopped = true
    this.pause()
    for (const t of this.timers.values()) clearTimeout(t.timer)
    this.timers.clear()
    this.queue.length = 0
    this.queued.clear()
    while (this.active.size > 0) await new Promise<void>(resolve => this.idleWaiters.push(resolve))
  }

  private pump (): void {
    while (this.running && this.active.size < this.init.concurrency && this.queue.length > 0) {
      const key = this.queue.shift() as string
      this.queued.delete(key)
      void this.run(key)
    }
    if (this.queue.length === 0 && this.active.size === 0) {
      const waiters = this.idleWaiters
      this.idleWaiters = []
      for (const w of waiters) w()
    }
  }

  private async run (key: string): Promise<void> {
    const ac = new AbortController()
    this.active.set(key, ac)
    try {
      const result = await this.init.process(key, ac.signal)
      if (result?.backoff === true) this.addRateLimited(key)
      else {
        this.forget(key)
        if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs)
      }
    } catch (err) {
      if (!this.stopped) {
        const delay = this.addRateLimited(key)
        this.init.onError?.(key, err, delay)
      }
    } finally {
      this.active.delete(key)
      this.processed++
      if (this.dirty.delete(key)) this.add(key)
      this.pump()
      if (this.stopped && this.active.size === 0) {
        const waiters = this.idleWaiters
        this.idleWaiters = []
        for (const w of waiters) w()
      }
    }
  }
}

/** base · 2^failures, capped at max (failures counted from 0). */
export function backoffDelay (failures: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(failures, 30))
}

import { AbortError, TimeoutError } from './errors.js'

/** Options accepted by every async operation. */
export interface AbortOptions {
  signal?: AbortSignal
}

/** Throws an AbortError (or the signal's TimeoutError) when the signal has fired. */
export function throwIfAborted (signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw abortReason(signal)
}

/** Normalises a signal's reason into one of our error classes. */
export function abortReason (signal: AbortSignal): Error {
  const reason: unknown = signal.reason
  if (reason instanceof AbortError || reason instanceof TimeoutError) return reason
  if (reason instanceof Error && reason.name === 'TimeoutError') return new TimeoutError(undefined, { cause: reason })
  return new AbortError(undefined, { cause: reason })
}

/**
 * A signal that fires when any input fires or after `timeoutMs` (if given).
 * Call `clear()` when done so timers and listeners do not outlive the operation.
 *
 * The deadline is judged once more after the next poll phase: when the event loop was blocked
 * past it (a long synchronous task, or a starved process), the answer may already sit in a
 * socket, and timers run before I/O. Without this, every operation in flight would time out at
 * once, and a node that answered in time would be counted as a miss.
 */
export function deadlineSignal (signal: AbortSignal | undefined, timeoutMs?: number): { signal: AbortSignal, clear: () => void } {
  const controller = new AbortController()
  const onAbort = (): void => { controller.abort(signal?.reason) }
  let timer: NodeJS.Timeout | undefined
  let immediate: NodeJS.Immediate | undefined
  if (signal !== undefined) {
    if (signal.aborted) controller.abort(signal.reason)
    else signal.addEventListener('abort', onAbort, { once: true })
  }
  if (timeoutMs !== undefined && Number.isFinite(timeoutMs) && !controller.signal.aborted) {
    timer = setTimeout(() => {
      immediate = setImmediate(() => { controller.abort(new TimeoutError(`Timed out after ${timeoutMs} ms`)) })
    }, timeoutMs)
    timer.unref()
  }
  return {
    signal: controller.signal,
    clear: () => {
      if (timer !== undefined) clearTimeout(timer)
      if (immediate !== undefined) clearImmediate(immediate)
      signal?.removeEventListener('abort', onAbort)
    }
  }
}

/** Resolves or rejects with `promise`, or rejects as soon as `signal` fires. The listener is always detached. */
export async function raceSignal<T> (promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return await promise
  throwIfAborted(signal)
  let onAbort: (() => void) | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        onAbort = () => { reject(abortReason(signal)) }
        signal.addEventListener('abort', onAbort, { once: true })
      })
    ])
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
  }
}

/** Sleeps, waking early (with an error) when the signal fires. */
export async function sleep (ms: number, options: AbortOptions = {}): Promise<void> {
  await raceSignal(new Promise<void>(resolve => { setTimeout(resolve, ms).unref() }), options.signal)
}

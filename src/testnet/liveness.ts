import { readFileSync } from 'node:fs'
import { abortReason, type AbortOptions } from '../core/abort.js'

/**
 * Whether processes we did not start in this process (or no longer hold a handle to) are alive,
 * by pid. Testnet processes outlive the `testnet up` that started them, so they are found again
 * by pid; two things make a bare `kill(pid, 0)` wrong:
 * - an exited process nobody reaped is a zombie: it still has its pid (some containers' init
 *   never reaps), so /proc/PID/stat state Z or X counts as dead;
 * - a pid is reused after its process is gone: the process's start time is recorded beside the
 *   pid and must match.
 * Where /proc is missing (not Linux) only `kill(pid, 0)` is used.
 */

interface ProcStat { state: string, startTime: string }

function readProcStat (pid: number): ProcStat | undefined | null {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch (err) {
    const code = (err as { code?: unknown }).code
    // No such pid (or no /proc at all: then null, "cannot tell").
    if (code === 'ENOENT' || code === 'ESRCH') return procAvailable() ? undefined : null
    return null
  }
  // "pid (comm) state ppid ..." — comm may hold spaces and parentheses: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  const state = fields[0]
  const startTime = fields[19]
  if (state === undefined || startTime === undefined) return null
  return { state, startTime }
}

let hasProc: boolean | undefined
function procAvailable (): boolean {
  if (hasProc === undefined) {
    try {
      readFileSync('/proc/self/stat')
      hasProc = true
    } catch {
      hasProc = false
    }
  }
  return hasProc
}

/** The kernel's start time of `pid` (opaque; compare for equality), or undefined where unknown. */
export function processStartTime (pid: number): string | undefined {
  const stat = readProcStat(pid)
  return stat === null || stat === undefined ? undefined : stat.startTime
}

/**
 * True when `pid` is a running (not zombie) process and, when `startTime` is given and can be
 * checked, the same process that had that start time.
 */
export function isProcessAlive (pid: number, startTime?: string): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch (err) {
    // EPERM: it exists but belongs to someone else — not one of ours unless /proc says otherwise.
    if ((err as { code?: unknown }).code !== 'EPERM') return false
  }
  const stat = readProcStat(pid)
  if (stat === undefined) return false
  if (stat === null) return true
  if (stat.state === 'Z' || stat.state === 'X' || stat.state === 'x') return false
  return startTime === undefined || stat.startTime === startTime
}

/** Sends `signal` to `pid` (its process group too when `group`); false when there was no such process. */
export function signalProcess (pid: number, signal: NodeJS.Signals, options: { group?: boolean } = {}): boolean {
  if (options.group === true) {
    try {
      process.kill(-pid, signal)
      return true
    } catch {
      // Not a group leader (or gone): fall back to the process itself.
    }
  }
  try {
    process.kill(pid, signal)
    return true
  } catch {
    return false
  }
}

/**
 * Waits until `pid` is no longer alive (see isProcessAlive), checking every `intervalMs`.
 * Resolves true when it exited, false when `timeoutMs` passed first. Throws on abort.
 */
export async function waitForExit (pid: number, startTime: string | undefined, timeoutMs: number, options: AbortOptions & { intervalMs?: number } = {}): Promise<boolean> {
  const interval = options.intervalMs ?? 50
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (!isProcessAlive(pid, startTime)) return true
    const left = deadline - Date.now()
    if (left <= 0) return false
    await delay(Math.min(interval, left), options.signal)
  }
}

/**
 * Like core's sleep, but the timer keeps the event loop alive: here nothing else may (the processes
 * waited for are not our children), and a command must not end in the middle of waiting.
 */
export async function delay (ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted === true) throw abortReason(signal)
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(abortReason(signal!))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

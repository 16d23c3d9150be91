import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, open, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { abortReason, type AbortOptions } from '../core/abort.js'
import { TestnetStartError, errorMessage } from '../core/errors.js'
import { processStartTime, signalProcess } from './liveness.js'

/** A JSON object printed by a process on a line of its own. */
export type JsonLine = Record<string, unknown>

export interface StartDetachedOptions<T> extends AbortOptions {
  /** Used in messages. */
  name: string
  /** [executable, ...arguments] */
  argv: readonly string[]
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** stdout and stderr both go here (appended; created with its directory). */
  logFile: string
  /**
   * Looks at each JSON line the process prints (stdout and stderr, in order) and returns the ready
   * value once the process says it is ready, else undefined. Throwing fails the start (a ready
   * line that does not hold what it must).
   */
  ready: (line: JsonLine, pid: number) => T | undefined
  /** Like `ready`, for the lines that are not JSON (a process that logs plain text, e.g. redis-server). */
  readyText?: (line: string, pid: number) => T | undefined
  /** The process must be ready within this many ms. @defaultValue 30_000 */
  timeoutMs?: number
  /** How often the log is read for new lines. @defaultValue 50 */
  pollMs?: number
}

export interface StartedProcess<T> {
  pid: number
  /** processStartTime(pid): recorded beside the pid so a reused pid is never mistaken for this process. */
  procStart: string | undefined
  ready: T
}

/**
 * Starts a background process that outlives this one (detached: its own session and process group;
 * stdin closed; stdout and stderr appended to `logFile`), and waits until it prints its ready line.
 * The log is read from the offset it had at spawn, so earlier runs' lines never count.
 *
 * Fails with TestnetStartError (BATCHAIN_ERR_TESTNET_START) when the process exits first, cannot be
 * spawned, is not ready in time, or its ready line is rejected; with AbortError when aborted. On any
 * failure the process (and its process group) is killed with SIGKILL before this returns.
 * On success nothing of this process keeps the caller's event loop alive.
 */
export async function startDetached<T> (options: StartDetachedOptions<T>): Promise<StartedProcess<T>> {
  const { name, argv, signal } = options
  const [file, ...args] = argv
  if (file === undefined) throw new TestnetStartError(`${name}: empty command`)
  signal?.throwIfAborted()
  await mkdir(dirname(options.logFile), { recursive: true })
  const log = await open(options.logFile, 'a')
  let offset: number
  let child: ChildProcess
  let exitInfo: string | undefined
  let spawnError: Promise<Error>
  let exited: Promise<void>
  try {
    offset = (await log.stat()).size
    child = spawn(file, args, {
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
      env: options.env ?? process.env,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd })
    })
    // Listen before anything is awaited: a process that exits at once can have its 'exit' emitted
    // while the log closes, and an event with no listener then is lost for good (the wait below
    // would never end, and nothing would keep the loop alive).
    spawnError = new Promise<Error>(resolve => child.once('error', resolve))
    exited = new Promise<void>(resolve => child.once('exit', (code, sig) => {
      exitInfo = sig !== null ? `signal ${sig}` : `code ${String(code)}`
      resolve()
    }))
  } finally {
    // The child holds its own copy of the descriptor.
    await log.close()
  }
  const pid = child.pid
  if (pid === undefined) {
    const err = await spawnError
    throw new TestnetStartError(`${name} could not be started: ${errorMessage(err)}`, { cause: err })
  }
  const procStart = processStartTime(pid)

  const readyValue = (line: string): T | undefined => {
    const json = parseJsonLine(line)
    if (json !== undefined) return options.ready(json, pid)
    return options.readyText?.(line, pid)
  }
  const reader = await open(options.logFile, 'r')
  const lines = new LineReader(reader, offset)
  const deadline = Date.now() + (options.timeoutMs ?? 30_000)
  const pollMs = options.pollMs ?? 50
  let failed = true
  try {
    for (;;) {
      for (const line of await lines.next()) {
        let value: T | undefined
        try {
          value = readyValue(line)
        } catch (err) {
          throw new TestnetStartError(`${name} printed a bad ready line: ${errorMessage(err)}`, { cause: err, details: { name, pid } })
        }
        if (value !== undefined) {
          failed = false
          return { pid, procStart, ready: value }
        }
      }
      if (exitInfo !== undefined) {
        // Lines written just before exiting are read before judging.
        const rest = await lines.next()
        if (rest.some(line => { try { return readyValue(line) !== undefined } catch { return true } })) {
          throw new TestnetStartError(`${name} exited (${exitInfo}) right after its ready line`, { details: { name, pid, logFile: options.logFile } })
        }
        throw new TestnetStartError(`${name} exited (${exitInfo}) before it was ready${reasonSuffix(lines.tail())}`, { details: { name, pid, logFile: options.logFile } })
      }
      const left = deadline - Date.now()
      if (left <= 0) {
        throw new TestnetStartError(`${name} was not ready within ${options.timeoutMs ?? 30_000} ms${reasonSuffix(lines.tail())}`, { details: { name, pid, logFile: options.logFile } })
      }
      if (signal?.aborted === true) throw abortReason(signal)
      const err = await Promise.race([
        wait(Math.min(pollMs, left), signal),
        exited.then(() => undefined),
        spawnError
      ])
      if (err instanceof Error) throw new TestnetStartError(`${name} could not be started: ${errorMessage(err)}`, { cause: err })
    }
  } finally {
    await reader.close()
    if (failed) {
      if (exitInfo === undefined) {
        signalProcess(pid, 'SIGKILL', { group: true })
        await exited
      }
    } else {
      child.removeAllListeners()
      child.unref()
    }
  }
}

const REDIS_WARNING = /^\d+:[A-Z] \d+ \w+ \d+ [\d:.]+ # (.*)$/

function reasonSuffix (tail: string | undefined): string {
  return tail === undefined ? '' : `: ${tail}`
}

function parseJsonLine (line: string): JsonLine | undefined {
  if (!line.startsWith('{')) return undefined
  try {
    const value: unknown = JSON.parse(line)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as JsonLine : undefined
  } catch {
    return undefined
  }
}

async function wait (ms: number, signal: AbortSignal | undefined): Promise<void> {
  await new Promise<void>(resolve => {
    const timer = setTimeout(done, ms)
    function done (): void {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}

/** Reads complete lines appended to a file since `offset`; keeps the last lines for error messages. */
class LineReader {
  private partial = ''
  private readonly recent: string[] = []
  private readonly buffer = Buffer.alloc(64 * 1024)

  constructor (private readonly handle: FileHandle, private position: number) {}

  async next (): Promise<string[]> {
    const out: string[] = []
    for (;;) {
      const { bytesRead } = await this.handle.read(this.buffer, 0, this.buffer.length, this.position)
      if (bytesRead === 0) break
      this.position += bytesRead
      // A line longer than 1 MiB is not a ready line: keep only its end.
      this.partial = (this.partial + this.buffer.toString('utf8', 0, bytesRead)).slice(-1024 * 1024)
      const parts = this.partial.split('\n')
      this.partial = parts.pop() ?? ''
      for (const part of parts) {
        const line = part.trim()
        if (line === '') continue
        out.push(line)
        this.recent.push(line)
        if (this.recent.length > 20) this.recent.shift()
      }
    }
    return out
  }

  /**
   * One line saying why a process failed, from its last lines, by preference: an error-level JSON
   * log line's message; a line that states an error (`batchain: …`, commander's `error: …`, a
   * thrown `SomeError: …` of a crash); redis-server's last warning; any line mentioning an error;
   * the last line. Cut to 300 characters.
   */
  tail (): string | undefined {
    const lines = this.partial.trim() === '' ? this.recent : [...this.recent, this.partial.trim()]
    const last = (test: (line: string) => string | undefined): string | undefined => {
      for (let i = lines.length - 1; i >= 0; i--) {
        const found = test(lines[i]!)
        if (found !== undefined) return found
      }
      return undefined
    }
    const pick = last(line => {
      const json = parseJsonLine(line)
      if (json === undefined || typeof json.level !== 'number' || json.level < 50 || typeof json.msg !== 'string') return undefined
      const err = typeof json.err === 'string' ? json.err : (json.err as { message?: unknown } | null | undefined)?.message
      return json.msg + (typeof err === 'string' ? `: ${err}` : '')
    }) ??
      last(line => /^(batchain|error|[A-Za-z]*Error)(\s*\[[^\]]*\])?: /.test(line) ? line : undefined) ??
      // redis-server: "PID:ROLE DATE TIME # message" is its warning level; a fatal reason is the
      // last such line, or the one before "Failed listening on port … aborting."
      last(line => { const m = REDIS_WARNING.exec(line); return m !== null && !/^(WARNING |Failed listening)/.test(m[1]!) ? m[1] : undefined }) ??
      last(line => REDIS_WARNING.exec(line)?.[1]) ??
      last(line => /error/i.test(line) ? line : undefined) ??
      lines.at(-1)
    return pick === undefined ? undefined : pick.replace(/\s+/g, ' ').slice(0, 300)
  }
}

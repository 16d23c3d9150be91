import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { CLI, assertBuilt } from './cli.js'

/**
 * A long-running `batchain worker|scheduler --json` process whose JSON-lines events the test reads.
 * Waits are bounded by a deadline and by the process exiting; nothing asserts on durations.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JsonEvent = Record<string, any>

export interface JsonProcess {
  readonly name: string
  readonly proc: ChildProcess
  readonly events: JsonEvent[]
  /** The first event (already seen or still to come) matching pred. */
  waitFor: (pred: (e: JsonEvent) => boolean, what: string, timeoutMs?: number) => Promise<JsonEvent>
  /** Sends a signal and resolves with the exit code (null when killed by a signal). */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>
  stderr: () => string
}

export async function spawnJsonCli (name: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<JsonProcess> {
  assertBuilt()
  const proc = spawn(process.execPath, [CLI, ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BATCHAIN_LOG_LEVEL: process.env.BATCHAIN_TEST_NODE_LOG ?? 'warn', ...env } })
  const events: JsonEvent[] = []
  const waiters = new Set<() => void>()
  let stderr = ''
  proc.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-8000)
    if (process.env.BATCHAIN_TEST_NODE_LOG !== undefined) process.stderr.write(`[${name}] ${d}`)
  })
  createInterface({ input: proc.stdout }).on('line', line => {
    try { events.push(JSON.parse(line) as JsonEvent) } catch { return }
    for (const w of waiters) w()
  })
  const exited = new Promise<number | null>(resolve => proc.once('exit', code => { resolve(code); for (const w of waiters) w() }))
  const p: JsonProcess = {
    name,
    proc,
    events,
    stderr: () => stderr,
    waitFor: async (pred, what, timeoutMs = 60_000) => await new Promise<JsonEvent>((resolve, reject) => {
      const check = (): void => {
        const found = events.find(pred)
        if (found !== undefined) { done(); resolve(found); return }
        if (proc.exitCode !== null || proc.signalCode !== null) { done(); reject(new Error(`${name} exited before ${what}: ${stderr}`)) }
      }
      const timer = setTimeout(() => { done(); reject(new Error(`${name}: no ${what} within ${timeoutMs} ms; events: ${JSON.stringify(events.slice(-10))}; stderr: ${stderr}`)) }, timeoutMs)
      const done = (): void => { clearTimeout(timer); waiters.delete(check) }
      waiters.add(check)
      check()
    }),
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode
      proc.kill(signal)
      const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000)
      const code = await exited
      clearTimeout(timer)
      return code
    }
  }
  await p.waitFor(e => e.event === 'ready', 'ready event', 30_000)
  return p
}

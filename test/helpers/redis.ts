import { spawn, type ChildProcess } from 'node:child_process'
import { createConnection } from 'node:net'
import type { TestContext } from 'node:test'
import { hasCommand, isCI, requirePrerequisite } from './ci.js'
import { freePort } from './ports.js'
import { tempDir, type TempDir } from './tmp.js'

/**
 * A real Debian redis-server for a test, on a free loopback port in its own temp dir, configured
 * the way BullMQ's production guide asks: AOF on (fsync on every write, so a SIGKILL loses no
 * acknowledged job), no RDB snapshots (`--save ""`), `maxmemory-policy noeviction`.
 * It can be stopped (SIGTERM, or SIGKILL to simulate a crash) and started again on the same dir and
 * port, which is how the tests check that queued jobs survive a restart.
 *
 *   const redis = await startRedis(t)    // undefined when skipped (no redis-server, not CI)
 *   if (redis === undefined) return
 *   t.after(async () => { await redis.close() })
 *
 * Under CI=true a missing redis-server fails the test (requirePrerequisite), never skips it.
 */
export interface RedisServer {
  readonly port: number
  readonly dir: string
  /** redis://127.0.0.1:PORT */
  readonly url: string
  readonly running: boolean
  /** Stops the server (SIGTERM flushes and exits; SIGKILL is a crash). Resolves when it exited. */
  stop: (signal?: 'SIGTERM' | 'SIGKILL') => Promise<void>
  /** Starts it again on the same port and dir (AOF replayed), resolves once it answers PING. */
  start: () => Promise<void>
  /** Stops it and removes the temp dir. */
  close: () => Promise<void>
}

export function hasRedis (): boolean {
  return hasCommand('redis-server')
}

/** In a test: false (skipped) when the suite's Redis could not start for want of redis-server; throws under CI. */
export function requireRedis (redis: RedisServer | undefined, t: TestContext): redis is RedisServer {
  return requirePrerequisite('redis-server', redis !== undefined, t, HINT)
}

const HINT = 'apt-get install redis-server; scripts/test.sh installs it'

/**
 * Starts redis-server, or returns undefined when it is missing outside CI (after t.skip() when a
 * test context is given; from a before() hook pass none and call requireRedis(t) in each test).
 */
export async function startRedis (t?: TestContext): Promise<RedisServer | undefined> {
  if (t !== undefined) {
    if (!requirePrerequisite('redis-server', hasRedis(), t, HINT)) return undefined
  } else if (!hasRedis()) {
    if (isCI()) throw new Error(`prerequisite missing: redis-server (${HINT}); CI=true requires every prerequisite`)
    return undefined
  }
  const tmp = await tempDir('redis')
  const port = await freePort()
  const server = new Server(port, tmp)
  try {
    await server.start()
  } catch (err) {
    await tmp[Symbol.asyncDispose]()
    throw err
  }
  return server
}

class Server implements RedisServer {
  private proc: ChildProcess | undefined
  private log = ''

  constructor (readonly port: number, private readonly tmp: TempDir) {}

  get dir (): string { return this.tmp.dir }
  get url (): string { return `redis://127.0.0.1:${this.port}` }
  get running (): boolean { return this.proc !== undefined }

  async start (): Promise<void> {
    if (this.proc !== undefined) throw new Error('redis-server already running')
    const args = [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.tmp.dir,
      '--save', '', '--appendonly', 'yes', '--appendfsync', 'always',
      '--maxmemory-policy', 'noeviction', '--protected-mode', 'yes', '--daemonize', 'no', '--logfile', ''
    ]
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const onData = (d: Buffer): void => { this.log = (this.log + d.toString('utf8')).slice(-4000) }
    proc.stdout.on('data', onData)
    proc.stderr.on('data', onData)
    this.proc = proc
    const exited = new Promise<never>((_resolve, reject) => {
      proc.once('exit', code => { reject(new Error(`redis-server exited (${code ?? 'signal'}) before answering PING: ${this.log}`)) })
    })
    exited.catch(() => {})
    // Bounded: 200 attempts × 50 ms.
    for (let attempt = 0; attempt < 200; attempt++) {
      if (await Promise.race([ping(this.port), exited])) return
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    await this.stop('SIGKILL')
    throw new Error(`redis-server on port ${this.port} did not answer PING: ${this.log}`)
  }

  async stop (signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const proc = this.proc
    if (proc === undefined) return
    this.proc = undefined
    if (proc.exitCode !== null || proc.signalCode !== null) return
    const exited = new Promise<void>(resolve => proc.once('exit', () => { resolve() }))
    proc.kill(signal)
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }

  async close (): Promise<void> {
    await this.stop('SIGTERM')
    await this.tmp[Symbol.asyncDispose]()
  }
}

/** One PING over a raw socket: true on +PONG (not on -LOADING while the AOF is replayed). */
async function ping (port: number): Promise<boolean> {
  return await new Promise<boolean>(resolve => {
    const socket = createConnection({ host: '127.0.0.1', port })
    let reply = ''
    const done = (ok: boolean): void => { socket.destroy(); resolve(ok) }
    socket.setTimeout(1000, () => { done(false) })
    socket.once('error', () => { done(false) })
    socket.once('connect', () => { socket.write('PING\r\n') })
    socket.on('data', d => {
      reply += d.toString('latin1')
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'))
    })
  })
}

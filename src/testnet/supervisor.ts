import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import pLimit from 'p-limit'
import type { AbortOptions } from '../core/abort.js'
import { AbortError, InvalidArgumentError, TestnetNotFoundError, TestnetRunningError, TestnetStateError, errorMessage } from '../core/errors.js'
import type { DhtAddress } from '../dht/types.js'
import { lockTestnetDir } from './dir-lock.js'
import { kindOf, type PlannedProcess } from './kinds.js'
import { isProcessAlive, signalProcess, waitForExit } from './liveness.js'
import { createProber } from './probe.js'
import { selfCliCommand } from './self-command.js'
import { startDetached } from './spawn.js'
import { PROCESS_NAME, TESTNET_STATE_VERSION, type ProcessBase, type TestnetProcess, type TestnetState } from './state.js'
import { loadTestnet, removeTestnetFiles, saveBootstrapList, saveRedisUrl, saveTestnet } from './state-file.js'

export interface TestnetSupervisorOptions {
  /** The testnet directory: testnet.json, bootstrap.txt, redis.url, nodes/<name>/, redis/, logs/<name>.log. */
  dir: string
  /** How to run this package's CLI: [executable, ...arguments]. @defaultValue selfCliCommand() */
  cli?: readonly string[]
  /** The redis-server to run (a name looked up in PATH, or a path). @defaultValue 'redis-server' */
  redisServer?: string
  /** Environment of started processes (BATCHAIN_LOG_LEVEL is set per process; BATCHAIN_BOOTSTRAP is removed). @defaultValue process.env */
  env?: NodeJS.ProcessEnv
  /** Each process must print its ready line within this many ms. @defaultValue 30_000 */
  readyTimeoutMs?: number
  /** Processes started at once within a stage. @defaultValue 4 */
  concurrency?: number
  /** `down`: how long a process may take to exit after SIGTERM before it gets SIGKILL. @defaultValue 10_000 */
  stopTimeoutMs?: number
  /** `down`: how long to wait for the exit after SIGKILL. @defaultValue 5_000 */
  killTimeoutMs?: number
  /** `status`: deadline of one process's probe. @defaultValue 3_000 */
  probeTimeoutMs?: number
  /** `up`: called as each process becomes ready (progress for people). */
  onReady?: (entry: TestnetProcess) => void
}

/** A process as `status` sees it. */
export type ProcessStatus = TestnetProcess & {
  /** The pid is alive and is still the process that was started (not a zombie, not a reused pid). */
  alive: boolean
  /**
   * Alive and answering: storage: piece-server PING; bootstrap: DHT INFO with its node id; redis:
   * PING; scheduler: a scheduler holds the leader lock in its Redis; dashboard: GET /healthz is
   * 200; worker: alive is enough (it has no port).
   */
  online: boolean
  /** Why it is not online. */
  reason?: string
}

export interface TestnetStatus {
  dir: string
  version: number
  status: TestnetState['status']
  createdAt: string
  stoppedAt?: string
  total: number
  online: number
  processes: ProcessStatus[]
}

export type StopOutcome = 'stopped' | 'killed' | 'not-running' | 'failed'

export interface StopResult {
  name: string
  role: TestnetProcess['role']
  pid: number
  /** stopped: exited after SIGTERM; killed: needed SIGKILL; not-running: was already gone; failed: still alive after SIGKILL. */
  outcome: StopOutcome
}

export interface DownReport {
  dir: string
  /** False when DIR holds no testnet (nothing to do: `down` is idempotent). */
  found: boolean
  processes: StopResult[]
}

export interface TestnetSupervisor {
  readonly dir: string
  /**
   * Starts the planned processes stage by stage and waits until each is ready; writes testnet.json
   * after every ready process (so `down` can stop them even if `up` dies), and bootstrap.txt and
   * redis.url after each stage that started bootstraps or Redis (later stages' processes read them). Refuses (TestnetRunningError) when a process of the testnet already in DIR is alive; a
   * state whose processes are all dead is replaced. On any failure, or abort, everything this call
   * started is stopped and the state files are removed before the error is thrown.
   */
  up: (plan: readonly PlannedProcess[], options?: AbortOptions) => Promise<TestnetState>
  /** Every process with alive/online. Throws TestnetNotFoundError when DIR has no testnet. */
  status: (options?: AbortOptions) => Promise<TestnetStatus>
  /**
   * SIGTERM to every live process (what depends on others first), SIGKILL to those still alive after
   * stopTimeoutMs; marks the state stopped. Idempotent: stopped processes and a DIR without a testnet are fine.
   */
  down: (options?: AbortOptions) => Promise<DownReport>
}

const DEFAULTS = {
  readyTimeoutMs: 30_000,
  concurrency: 4,
  stopTimeoutMs: 10_000,
  killTimeoutMs: 5_000,
  probeTimeoutMs: 3_000
} as const

/** Creates the supervisor of the testnet in `options.dir` (nothing happens until a method is called). */
export function createTestnetSupervisor (options: TestnetSupervisorOptions): TestnetSupervisor {
  const dir = resolve(options.dir)
  const settings = { ...DEFAULTS, ...definedOnly(options) }
  for (const key of ['readyTimeoutMs', 'concurrency', 'stopTimeoutMs', 'killTimeoutMs', 'probeTimeoutMs'] as const) {
    const value = settings[key]
    if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError(`${key} must be a positive number`)
  }

  async function up (plan: readonly PlannedProcess[], abort: AbortOptions = {}): Promise<TestnetState> {
    checkPlan(plan)
    abort.signal?.throwIfAborted()
    const cli = options.cli ?? selfCliCommand()
    await mkdir(dir, { recursive: true })
    const release = await lockTestnetDir(dir)
    try {
      await refuseIfRunning()
      await removeTestnetFiles(dir)
      const state: TestnetState = { version: TESTNET_STATE_VERSION, dir, status: 'starting', createdAt: new Date().toISOString(), processes: [] }
      const order = new Map(plan.map((p, i) => [p.name, i]))
      let saving = Promise.resolve()
      const persist = async (): Promise<void> => {
        state.processes.sort((a, b) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0))
        const snapshot = structuredClone(state)
        saving = saving.then(async () => { await saveTestnet(dir, snapshot) })
        await saving
      }
      await persist()

      const controller = new AbortController()
      const onAbort = (): void => { controller.abort(abort.signal?.reason) }
      abort.signal?.addEventListener('abort', onAbort, { once: true })
      let firstError: unknown
      try {
        const limit = pLimit(settings.concurrency)
        for (const stage of [...new Set(plan.map(p => p.stage))].sort((a, b) => a - b)) {
          const bootstraps = seeds(state.processes)
          const earlier = [...state.processes]
          await Promise.allSettled(plan.filter(p => p.stage === stage).map(async spec => await limit(async () => {
            try {
              controller.signal.throwIfAborted()
              const entry = await startOne(spec, cli, bootstraps, earlier, controller.signal)
              state.processes.push(entry)
              await persist()
              options.onReady?.(entry)
            } catch (err) {
              firstError ??= err
              controller.abort(err)
            }
          })))
          if (firstError !== undefined) throw firstError
          await saveClientFiles(state.processes)
        }
        await saveBootstrapList(dir, seeds(state.processes))
        state.status = 'running'
        await persist()
        return state
      } catch (err) {
        controller.abort(err)
        await saving.catch(() => {})
        await stopAll(state.processes)
        await removeTestnetFiles(dir)
        if (abort.signal?.aborted === true && !(err instanceof AbortError)) throw new AbortError('testnet up was interrupted; the processes it started were stopped', { cause: err })
        throw err
      } finally {
        abort.signal?.removeEventListener('abort', onAbort)
      }
    } finally {
      await release()
    }
  }

  /** bootstrap.txt and redis.url as soon as there is something to write: the next stage may read them. */
  async function saveClientFiles (processes: readonly TestnetProcess[]): Promise<void> {
    const list = seeds(processes)
    if (list.length > 0) await saveBootstrapList(dir, list)
    const redis = processes.find(p => p.role === 'redis')
    if (redis !== undefined) await saveRedisUrl(dir, redis.url)
  }

  async function startOne (planned: PlannedProcess, cli: readonly string[], bootstraps: readonly DhtAddress[], started: readonly TestnetProcess[], signal: AbortSignal): Promise<TestnetProcess> {
    const kind = kindOf(planned.role)
    const dataDir = kind.dataDir?.(planned, dir) ?? join(dir, 'nodes', planned.name)
    const logFile = join(dir, 'logs', `${planned.name}.log`)
    await mkdir(dataDir, { recursive: true, mode: 0o700 })
    const ctx = { cli, dataDir, bootstraps, dir, started, redisServer: options.redisServer ?? 'redis-server' }
    // A seed list from the environment must not pull the first bootstrap (started with no
    // --bootstrap) into another network; a Redis or testnet from the environment is not this one's.
    const { BATCHAIN_BOOTSTRAP: _seeds, BATCHAIN_REDIS: _redis, BATCHAIN_TESTNET_DIR: _testnet, ...inherited } = options.env ?? process.env
    const env = { ...inherited, BATCHAIN_LOG_LEVEL: planned.logLevel ?? 'info' }
    for (let attempt = 1; ; attempt++) {
      const spec = await kind.prepare?.(planned, ctx) ?? planned
      const base = (pid: number): ProcessBase => ({ name: spec.name, pid, host: spec.host, dataDir, logFile, startedAt: new Date().toISOString() })
      try {
        const result = await startDetached({
          name: spec.name,
          argv: kind.argv(spec, ctx),
          env,
          cwd: dir,
          logFile,
          timeoutMs: settings.readyTimeoutMs,
          signal,
          ready: (line, pid) => kind.fromReady(line, base(pid), spec),
          ...(kind.fromText === undefined ? {} : { readyText: (line: string, pid: number) => kind.fromText?.(line, base(pid), spec) })
        })
        return result.procStart === undefined ? result.ready : { ...result.ready, procStart: result.procStart }
      } catch (err) {
        // The port chosen for it was taken before it could bind: choose another.
        if (attempt < 3 && !signal.aborted && kind.retryStart?.(err, spec) === true) continue
        throw err
      }
    }
  }

  async function refuseIfRunning (): Promise<void> {
    let existing: TestnetState
    try {
      existing = await loadTestnet(dir)
    } catch (err) {
      if (err instanceof TestnetNotFoundError) return
      if (err instanceof TestnetStateError) {
        throw new TestnetStateError(`${errorMessage(err)}; not starting over it: make sure none of its processes run, then remove it`, { cause: err, ...(err.details === undefined ? {} : { details: err.details }) })
      }
      throw err
    }
    const alive = existing.processes.filter(p => isProcessAlive(p.pid, p.procStart))
    if (alive.length > 0) {
      throw new TestnetRunningError(`A testnet is already running in ${dir} (${alive.length} of ${existing.processes.length} processes alive); stop it first with \`batchain testnet down --dir ${dir}\``, {
        details: { dir, alive: alive.map(p => ({ name: p.name, pid: p.pid })) }
      })
    }
  }

  async function status (abort: AbortOptions = {}): Promise<TestnetStatus> {
    const state = await loadTestnet(dir)
    const prober = createProber({ timeoutMs: settings.probeTimeoutMs })
    const limit = pLimit(32)
    let processes: ProcessStatus[]
    try {
      processes = await Promise.all(state.processes.map(async p => await limit(async (): Promise<ProcessStatus> => {
        abort.signal?.throwIfAborted()
        if (!isProcessAlive(p.pid, p.procStart)) return { ...p, alive: false, online: false, reason: 'process is not running' }
        try {
          await kindOf(p.role).probe(p, prober, abort)
          return { ...p, alive: true, online: true }
        } catch (err) {
          if (abort.signal?.aborted === true) throw err
          return { ...p, alive: true, online: false, reason: `not answering: ${errorMessage(err)}` }
        }
      })))
    } finally {
      await prober.close()
    }
    return {
      dir,
      version: state.version,
      status: state.status,
      createdAt: state.createdAt,
      ...(state.stoppedAt === undefined ? {} : { stoppedAt: state.stoppedAt }),
      total: processes.length,
      online: processes.filter(p => p.online).length,
      processes
    }
  }

  async function down (abort: AbortOptions = {}): Promise<DownReport> {
    try {
      await loadTestnet(dir)
    } catch (err) {
      if (err instanceof TestnetNotFoundError) return { dir, found: false, processes: [] }
      throw err
    }
    const release = await lockTestnetDir(dir)
    try {
      const state = await loadTestnet(dir)
      const results = await stopAll(state.processes, abort)
      state.status = 'stopped'
      state.stoppedAt = new Date().toISOString()
      await saveTestnet(dir, state)
      return { dir, found: true, processes: results }
    } finally {
      await release()
    }
  }

  /** Stops processes group by group (lowest stopOrder first), each group in parallel; results in the given order. */
  async function stopAll (processes: readonly TestnetProcess[], abort: AbortOptions = {}): Promise<StopResult[]> {
    const results = new Map<TestnetProcess, StopResult>()
    const orders = [...new Set(processes.map(p => kindOf(p.role).stopOrder))].sort((a, b) => a - b)
    for (const order of orders) {
      await Promise.all(processes.filter(p => kindOf(p.role).stopOrder === order).map(async p => {
        results.set(p, { name: p.name, role: p.role, pid: p.pid, outcome: await stopOne(p, abort) })
      }))
    }
    return processes.map(p => results.get(p)!)
  }

  async function stopOne (p: TestnetProcess, abort: AbortOptions): Promise<StopOutcome> {
    if (!isProcessAlive(p.pid, p.procStart)) return 'not-running'
    signalProcess(p.pid, 'SIGTERM')
    if (await waitForExit(p.pid, p.procStart, settings.stopTimeoutMs, abort)) return 'stopped'
    // Testnet processes lead their own process group (started detached): take anything they started too.
    signalProcess(p.pid, 'SIGKILL', { group: true })
    return await waitForExit(p.pid, p.procStart, settings.killTimeoutMs, abort) ? 'killed' : 'failed'
  }

  return { dir, up, status, down }
}

function seeds (processes: readonly TestnetProcess[]): DhtAddress[] {
  return processes.flatMap(p => kindOf(p.role).seedAddress(p) ?? [])
}

function checkPlan (plan: readonly PlannedProcess[]): void {
  const names = new Set<string>()
  for (const p of plan) {
    if (!PROCESS_NAME.test(p.name)) throw new InvalidArgumentError(`process name ${JSON.stringify(p.name)} is not a safe name (a-z, 0-9, -)`)
    if (names.has(p.name)) throw new InvalidArgumentError(`process name ${p.name} appears twice`)
    names.add(p.name)
    if (!Number.isInteger(p.stage)) throw new InvalidArgumentError(`stage of ${p.name} must be an integer`)
  }
}

function definedOnly<T extends object> (value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}

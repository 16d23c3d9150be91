import { accessSync, constants } from 'node:fs'
import { createServer } from 'node:net'
import { delimiter, join } from 'node:path'
import { z } from 'zod'
import type { AbortOptions } from '../core/abort.js'
import { TestnetStartError } from '../core/errors.js'
import type { NodeId } from '../core/ids.js'
import type { DhtAddress } from '../dht/types.js'
import type { Prober } from './probe.js'
import type { JsonLine } from './spawn.js'
import type {
  BootstrapProcess, DashboardProcess, ProcessBase, ProcessRole, RedisProcess, SchedulerProcess, StorageProcess, TestnetProcess, WorkerProcess
} from './state.js'

/**
 * Process kinds: what the supervisor needs to know to start, recognise, probe and stop one kind of
 * testnet process. Adding a kind = a member of the entry union in state.ts + an entry in KINDS +
 * its processes in plan.ts; the supervisor stays as it is.
 *
 * Kinds: bootstrap and storage nodes (`batchain node start`), and the jobs processes: redis
 * (Debian's redis-server in the foreground, AOF in DIR/redis), worker (`batchain worker`),
 * scheduler (`batchain scheduler`) and dashboard (`batchain dashboard`), which find the Redis
 * started by an earlier stage in LaunchContext.started.
 */

/** One process `testnet up` should start (see plan.ts). */
export interface PlannedProcess {
  /** Unique; names DIR/nodes/<name>/ and DIR/logs/<name>.log. */
  name: string
  role: ProcessRole
  /**
   * Processes start stage by stage, in parallel within a stage; a stage sees the addresses of
   * everything earlier stages started (e.g. storage nodes get every bootstrap).
   */
  stage: number
  host: string
  /** Failure-domain label (storage). */
  zone?: string
  /** Bytes of pieces to accept (storage). */
  capacity?: number
  /** Log level of the process (BATCHAIN_LOG_LEVEL). @defaultValue 'info' */
  logLevel?: string
  /** TCP port (redis). @defaultValue a free port, chosen at start */
  port?: number
  /** Offline grace period, seconds (scheduler). */
  grace?: number
  /** Keepalive period, seconds (scheduler). @defaultValue the scheduler's own */
  keepaliveEvery?: number
  /** The Redis URL (worker, scheduler, dashboard): filled in by prepare() from the redis entry. */
  redis?: string
}

export interface LaunchContext {
  /** How to run this package's CLI: [executable, ...arguments], e.g. [node, /…/bin/batchain.js]. */
  cli: readonly string[]
  /** The process's data directory (created before launch). */
  dataDir: string
  /** DHT addresses of the bootstraps started by earlier stages. */
  bootstraps: readonly DhtAddress[]
  /** The testnet directory (absolute). */
  dir: string
  /** Everything earlier stages started (the jobs processes find their Redis here). */
  started: readonly TestnetProcess[]
  /** The redis-server executable (a name looked up in PATH, or a path). */
  redisServer: string
}

export interface ProcessKind<E extends TestnetProcess = TestnetProcess> {
  readonly role: E['role']
  /** `down` stops lower numbers first (what depends on a service stops before it). */
  readonly stopOrder: number
  /** The command line: [executable, ...arguments]. */
  argv (spec: PlannedProcess, ctx: LaunchContext): string[]
  /**
   * The state entry once `line` is the process's ready line; undefined for any other line. Throws
   * when it is a ready line that lacks what the entry needs, or names another pid.
   */
  fromReady (line: JsonLine, base: ProcessBase, spec: PlannedProcess): E | undefined
  /** Resolves when the process answers on its ports (beyond its pid being alive); throws with the reason otherwise. */
  probe (entry: E, prober: Prober, options: AbortOptions): Promise<void>
  /** The DHT address clients join through, for bootstrap.txt (bootstraps only). */
  seedAddress (entry: E): DhtAddress | undefined
  /** The data directory. @defaultValue DIR/nodes/NAME */
  dataDir?: (spec: PlannedProcess, dir: string) => string
  /**
   * Before each start attempt: the spec completed with what is only known at start (a free port),
   * or a TestnetStartError saying what is missing (an executable).
   */
  prepare?: (spec: PlannedProcess, ctx: LaunchContext) => Promise<PlannedProcess>
  /** Whether a failed start is worth another attempt with a new prepare() (its port was taken meanwhile). */
  retryStart?: (err: unknown, spec: PlannedProcess) => boolean
  /** Like fromReady, for a process whose ready line is plain text (redis-server's log). */
  fromText?: (line: string, base: ProcessBase, spec: PlannedProcess) => E | undefined
}

const port = z.number().int().min(1).max(65535)

/** The ready line of `batchain node start --json` (the node process contract). */
const nodeReadySchema = z.object({
  event: z.literal('ready'),
  role: z.enum(['storage', 'bootstrap']),
  nodeId: z.string().regex(/^[0-9a-f]{64}$/),
  host: z.string().min(1).max(255),
  port: port.optional(),
  dhtPort: port,
  pid: z.number().int().positive().optional(),
  zone: z.string().min(1).max(64).optional(),
  capacity: z.number().int().nonnegative().optional()
})

function parseNodeReady (line: JsonLine, base: ProcessBase, role: 'storage' | 'bootstrap'): z.infer<typeof nodeReadySchema> | undefined {
  if (line.event !== 'ready') return undefined
  const parsed = nodeReadySchema.safeParse(line)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new Error(`ready line ${issue === undefined ? 'invalid' : `${issue.path.join('.')}: ${issue.message}`}`)
  }
  const ready = parsed.data
  if (ready.role !== role) throw new Error(`ready line says role ${ready.role}, expected ${role}`)
  if (ready.pid !== undefined && ready.pid !== base.pid) throw new Error(`ready line names pid ${ready.pid}, the process is ${base.pid}`)
  return ready
}

function nodeArgs (spec: PlannedProcess, ctx: LaunchContext): string[] {
  const args = [...ctx.cli, 'node', 'start', '--json', '--role', spec.role, '--data-dir', ctx.dataDir, '--host', spec.host, '--dht-port', '0']
  for (const seed of ctx.bootstraps) args.push('--bootstrap', formatAddress(seed))
  return args
}

function redisUrl (host: string, port: number): string {
  return `redis://${host.includes(':') ? `[${host}]` : host}:${port}`
}

/** The path of `name` (looked up in PATH unless it holds a slash) when it is an executable file. */
export function findExecutable (name: string, path = process.env.PATH ?? ''): string | undefined {
  const candidates = name.includes('/') ? [name] : path.split(delimiter).filter(d => d !== '').map(d => join(d, name))
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

/** A TCP port free on `host` now (the kernel's pick for port 0; another process may take it before use). */
async function freeTcpPort (host: string): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address()
      server.close(() => {
        if (address === null || typeof address === 'string') reject(new Error(`no port from ${String(address)}`))
        else resolve(address.port)
      })
    })
  })
}

function formatAddress (a: DhtAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`
}

async function probeDht (entry: { host: string, dhtPort: number, nodeId: string }, prober: Prober, options: AbortOptions): Promise<void> {
  const info = await prober.dhtInfo({ host: entry.host, port: entry.dhtPort }, options)
  if (info.nodeId !== entry.nodeId) throw new Error(`another node answers on ${entry.host}:${entry.dhtPort} (${info.nodeId.slice(0, 12)}…)`)
}

const bootstrapKind: ProcessKind<BootstrapProcess> = {
  role: 'bootstrap',
  stopOrder: 4,
  argv: nodeArgs,
  fromReady (line, base) {
    const ready = parseNodeReady(line, base, 'bootstrap')
    if (ready === undefined) return undefined
    return { ...base, role: 'bootstrap', host: ready.host, nodeId: ready.nodeId, dhtPort: ready.dhtPort }
  },
  async probe (entry, prober, options) {
    await probeDht(entry, prober, options)
  },
  seedAddress: entry => ({ host: entry.host, port: entry.dhtPort })
}

const storageKind: ProcessKind<StorageProcess> = {
  role: 'storage',
  stopOrder: 3,
  argv (spec, ctx) {
    const args = [...nodeArgs(spec, ctx), '--port', '0']
    if (spec.zone !== undefined) args.push('--zone', spec.zone)
    if (spec.capacity !== undefined) args.push('--capacity', String(spec.capacity))
    return args
  },
  fromReady (line, base, spec) {
    const ready = parseNodeReady(line, base, 'storage')
    if (ready === undefined) return undefined
    if (ready.port === undefined) throw new Error('ready line of a storage node has no piece port')
    const zone = ready.zone ?? spec.zone
    const capacity = ready.capacity ?? spec.capacity
    return {
      ...base,
      role: 'storage',
      host: ready.host,
      nodeId: ready.nodeId,
      port: ready.port,
      dhtPort: ready.dhtPort,
      ...(zone === undefined ? {} : { zone }),
      ...(capacity === undefined ? {} : { capacity })
    }
  },
  async probe (entry, prober, options) {
    await prober.pingPiece({ host: entry.host, port: entry.port, nodeId: entry.nodeId as NodeId }, options)
  },
  seedAddress: () => undefined
}

/** The key of the scheduler leader lock (jobs/scheduler.ts, default prefix). */
export const SCHEDULER_LEADER_KEY = 'batchain:leader:schedulers'

const redisKind: ProcessKind<RedisProcess> = {
  role: 'redis',
  stopOrder: 3,
  dataDir: (_spec, dir) => join(dir, 'redis'),
  async prepare (spec, ctx) {
    if (findExecutable(ctx.redisServer) === undefined) {
      throw new TestnetStartError(`${spec.name}: ${ctx.redisServer} not found${ctx.redisServer.includes('/') ? '' : ' on PATH'}: install Debian's redis-server (apt-get install redis-server), or start the testnet with --no-jobs`, {
        details: { name: spec.name, executable: ctx.redisServer }
      })
    }
    return spec.port === undefined ? { ...spec, port: await freeTcpPort(spec.host) } : spec
  },
  retryStart: (err, spec) => spec.port !== undefined && err instanceof TestnetStartError && /Address already in use/i.test(err.message),
  argv (spec, ctx) {
    if (spec.port === undefined) throw new Error('redis needs a port (prepare() chooses one)')
    // No config file: nothing from /etc/redis applies. AOF on and no eviction, as BullMQ asks;
    // no RDB snapshots; logs on stdout (DIR/logs/redis.log); in the foreground, so its pid is ours.
    return [
      ctx.redisServer, '--port', String(spec.port), '--bind', spec.host, '--dir', ctx.dataDir,
      '--save', '', '--appendonly', 'yes', '--maxmemory-policy', 'noeviction',
      '--daemonize', 'no', '--logfile', '', '--protected-mode', 'yes'
    ]
  },
  fromReady: () => undefined,
  fromText (line, base, spec) {
    if (!/ Ready to accept connections/.test(line)) return undefined
    const pid = /^(\d+):/.exec(line)?.[1]
    if (pid !== undefined && Number(pid) !== base.pid) throw new Error(`ready line names pid ${pid}, the process is ${base.pid}`)
    if (spec.port === undefined) throw new Error('redis started without a port')
    return { ...base, role: 'redis', host: spec.host, port: spec.port, url: redisUrl(spec.host, spec.port) }
  },
  async probe (entry, prober, options) {
    const reply = await prober.redis(entry.url, ['PING'], options)
    if (reply !== 'PONG') throw new Error(`PING answered ${JSON.stringify(reply)}`)
  },
  seedAddress: () => undefined
}

/** prepare() of the jobs processes: their Redis is the redis entry of an earlier stage (unless the plan names one). */
async function withRedis (spec: PlannedProcess, ctx: LaunchContext): Promise<PlannedProcess> {
  if (spec.redis !== undefined) return spec
  const redis = ctx.started.find(p => p.role === 'redis')
  if (redis === undefined) throw new TestnetStartError(`${spec.name} needs a Redis started by an earlier stage`, { details: { name: spec.name } })
  return { ...spec, redis: redis.url }
}

function redisOf (spec: PlannedProcess): string {
  if (spec.redis === undefined) throw new Error(`${spec.name} has no Redis (prepare() finds it)`)
  return spec.redis
}

const readyBase = {
  event: z.literal('ready'),
  pid: z.number().int().positive().optional()
}

function parseReady<S extends z.ZodType<{ pid?: number | undefined }>> (schema: S, line: JsonLine, base: ProcessBase): z.infer<S> | undefined {
  if (line.event !== 'ready') return undefined
  const parsed = schema.safeParse(line)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new Error(`ready line ${issue === undefined ? 'invalid' : `${issue.path.join('.')}: ${issue.message}`}`)
  }
  if (parsed.data.pid !== undefined && parsed.data.pid !== base.pid) throw new Error(`ready line names pid ${parsed.data.pid}, the process is ${base.pid}`)
  return parsed.data
}

const workerReadySchema = z.object({ ...readyBase, name: z.string().min(1).max(255).optional(), queues: z.array(z.string().min(1).max(64)).max(64) })

const workerKind: ProcessKind<WorkerProcess> = {
  role: 'worker',
  prepare: withRedis,
  stopOrder: 2,
  argv: (spec, ctx) => [...ctx.cli, 'worker', '--redis', redisOf(spec), '--testnet', ctx.dir, '--json'],
  fromReady (line, base, spec) {
    const ready = parseReady(workerReadySchema, line, base)
    if (ready === undefined) return undefined
    const redis = redisOf(spec)
    return { ...base, role: 'worker', redis, ...(ready.name === undefined ? {} : { workerName: ready.name }), queues: ready.queues }
  },
  // No port: alive is all there is to know (BullMQ workers keep no heartbeat key of their own).
  async probe () {},
  seedAddress: () => undefined
}

const schedulerReadySchema = z.object({ ...readyBase, token: z.string().min(1).max(255) })

const schedulerKind: ProcessKind<SchedulerProcess> = {
  role: 'scheduler',
  prepare: withRedis,
  stopOrder: 1,
  argv (spec, ctx) {
    const args = [...ctx.cli, 'scheduler', '--redis', redisOf(spec), '--testnet', ctx.dir]
    if (spec.grace !== undefined) args.push('--grace', String(spec.grace))
    if (spec.keepaliveEvery !== undefined) args.push('--keepalive-every', String(spec.keepaliveEvery))
    args.push('--json')
    return args
  },
  fromReady (line, base, spec) {
    const ready = parseReady(schedulerReadySchema, line, base)
    if (ready === undefined) return undefined
    return {
      ...base,
      role: 'scheduler',
      redis: redisOf(spec),
      token: ready.token,
      ...(spec.grace === undefined ? {} : { grace: spec.grace }),
      ...(spec.keepaliveEvery === undefined ? {} : { keepaliveEvery: spec.keepaliveEvery })
    }
  },
  /** Online: some scheduler holds the leader lock in its Redis (this one, in a testnet of one). */
  async probe (entry, prober, options) {
    const holder = await prober.redis(entry.redis, ['GET', SCHEDULER_LEADER_KEY], options)
    if (holder === null) throw new Error(`no scheduler holds the leader lock (${SCHEDULER_LEADER_KEY})`)
  },
  seedAddress: () => undefined
}

const dashboardReadySchema = z.object({ ...readyBase, url: z.url({ protocol: /^http$/ }) })

const dashboardKind: ProcessKind<DashboardProcess> = {
  role: 'dashboard',
  prepare: withRedis,
  stopOrder: 0,
  argv: (spec, ctx) => [...ctx.cli, 'dashboard', '--redis', redisOf(spec), '--port', '0', '--json'],
  fromReady (line, base, spec) {
    const ready = parseReady(dashboardReadySchema, line, base)
    if (ready === undefined) return undefined
    const url = new URL(ready.url)
    const port = Number(url.port === '' ? 80 : url.port)
    return { ...base, role: 'dashboard', host: url.hostname.replace(/^\[(.*)\]$/, '$1'), redis: redisOf(spec), port, url: url.origin }
  },
  async probe (entry, prober, options) {
    const status = await prober.httpStatus(`${entry.url}/healthz`, options)
    if (status !== 200) throw new Error(`GET /healthz answered ${status}`)
  },
  seedAddress: () => undefined
}

/** Every kind, by role. */
export const KINDS: { readonly [R in ProcessRole]: ProcessKind<Extract<TestnetProcess, { role: R }>> } = {
  bootstrap: bootstrapKind,
  storage: storageKind,
  redis: redisKind,
  worker: workerKind,
  scheduler: schedulerKind,
  dashboard: dashboardKind
}

export function kindOf (role: ProcessRole): ProcessKind {
  return KINDS[role] as ProcessKind
}

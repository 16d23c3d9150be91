import { z } from 'zod'

/**
 * The testnet state file (DIR/testnet.json): what `testnet up` started, so `status`, `down` and
 * clients can find it again. Versioned; validated on every read; replaced atomically. One entry
 * per process, tagged by role (bootstrap, storage, and unless `--no-jobs`: redis, worker,
 * scheduler, dashboard) — a new process kind adds a member to the union.
 *
 *   { "version": 1, "dir": "/abs/DIR", "status": "running", "createdAt": "2026-…Z",
 *     "processes": [
 *       { "name": "bootstrap-0", "role": "bootstrap", "nodeId": "<64 hex>", "host": "127.0.0.1",
 *         "dhtPort": 41234, "pid": 4242, "procStart": "8812345", "dataDir": "/abs/DIR/nodes/bootstrap-0",
 *         "logFile": "/abs/DIR/logs/bootstrap-0.log", "startedAt": "2026-…Z" },
 *       { "name": "node-0", "role": "storage", …, "port": 40001, "dhtPort": 41240, "zone": "zone-0", "capacity": 1073741824 },
 *       { "name": "redis", "role": "redis", …, "dataDir": "/abs/DIR/redis", "port": 40100, "url": "redis://127.0.0.1:40100" },
 *       { "name": "worker", "role": "worker", …, "redis": "redis://127.0.0.1:40100", "workerName": "host:4300", "queues": ["keepalive", …] },
 *       { "name": "scheduler", "role": "scheduler", …, "redis": "redis://127.0.0.1:40100", "token": "host:4301:…", "grace": 600 },
 *       { "name": "dashboard", "role": "dashboard", …, "redis": "redis://127.0.0.1:40100", "port": 40200, "url": "http://127.0.0.1:40200" } ] }
 *
 * Layout of DIR: testnet.json, bootstrap.txt, redis.url (the jobs' Redis, for clients),
 * testnet.lock (while up/down run), nodes/<name>/ (each node's, worker's, scheduler's and
 * dashboard's data dir: key, pieces, DHT peers), redis/ (Redis's AOF), logs/<name>.log (stdout and
 * stderr, appended).
 */

export const TESTNET_STATE_VERSION = 1
export const STATE_FILE = 'testnet.json'
/** One HOST:PORT per line: the bootstraps' DHT addresses (what clients read). */
export const BOOTSTRAP_FILE = 'bootstrap.txt'
/** One line, redis://HOST:PORT: the Redis of the jobs processes (absent with `--no-jobs`). */
export const REDIS_URL_FILE = 'redis.url'

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters')
const port = z.number().int().min(1).max(65535)
/** Safe as a file name: data dirs and logs are named after processes. */
export const PROCESS_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/

/** Fields every process entry has, whatever its role. */
const base = {
  /** Unique within the testnet; names DIR/nodes/<name>/ and DIR/logs/<name>.log. */
  name: z.string().regex(PROCESS_NAME),
  pid: z.number().int().positive(),
  /**
   * The process's start time as the kernel counts it (Linux: /proc/PID/stat field 22), so a pid
   * reused by an unrelated process is never taken for ours. Absent where it cannot be read.
   */
  procStart: z.string().max(32).optional(),
  /** Address the process listens on. */
  host: z.string().min(1).max(255),
  dataDir: z.string().min(1),
  logFile: z.string().min(1),
  /** ISO time the process was ready. */
  startedAt: z.iso.datetime()
}

const bootstrapEntry = z.object({
  ...base,
  role: z.literal('bootstrap'),
  nodeId: hex64,
  dhtPort: port
})

const storageEntry = z.object({
  ...base,
  role: z.literal('storage'),
  nodeId: hex64,
  /** The piece server (BatNode). */
  port,
  /** The KadNode. */
  dhtPort: port,
  zone: z.string().min(1).max(64).optional(),
  /** Bytes of pieces the node was told to accept. */
  capacity: z.number().int().nonnegative().optional()
})

/** redis://HOST:PORT as written by the supervisor (no credentials: a testnet's Redis has none). */
const redisUrl = z.string().regex(/^redis:\/\/[^\s/@]+:\d{1,5}(\/\d{1,2})?$/, 'must be redis://HOST:PORT')

/** Debian's redis-server, in the foreground, AOF in DIR/redis. */
const redisEntry = z.object({
  ...base,
  role: z.literal('redis'),
  port,
  url: redisUrl
})

/** `batchain worker`: BullMQ workers of the durability queues. */
const workerEntry = z.object({
  ...base,
  role: z.literal('worker'),
  /** The Redis it serves. */
  redis: redisUrl,
  /** The name it records on the jobs it processes. */
  workerName: z.string().min(1).max(255).optional(),
  queues: z.array(z.string().min(1).max(64)).max(64)
})

/** `batchain scheduler`: campaigns for the leader lock, owns the job schedules while it leads. */
const schedulerEntry = z.object({
  ...base,
  role: z.literal('scheduler'),
  redis: redisUrl,
  /** Its leader-lock token (the lock's value while it leads). */
  token: z.string().min(1).max(255),
  /** Offline grace period it was given, seconds. */
  grace: z.number().int().nonnegative().optional(),
  /** Keepalive period it was given, seconds. */
  keepaliveEvery: z.number().int().positive().optional()
})

/** `batchain dashboard`: the web dashboard over the jobs' Redis. */
const dashboardEntry = z.object({
  ...base,
  role: z.literal('dashboard'),
  redis: redisUrl,
  port,
  /** http://HOST:PORT, as the dashboard printed it. */
  url: z.url({ protocol: /^https?$/ })
})

export const processEntrySchema = z.discriminatedUnion('role', [bootstrapEntry, storageEntry, redisEntry, workerEntry, schedulerEntry, dashboardEntry])

export const testnetStateSchema = z.object({
  version: z.literal(TESTNET_STATE_VERSION),
  /** Absolute path of the testnet directory when it was written. */
  dir: z.string().min(1),
  /** starting: `up` is still starting processes (or died doing so); running: all were ready; stopped: `down` ran. */
  status: z.enum(['starting', 'running', 'stopped']),
  createdAt: z.iso.datetime(),
  stoppedAt: z.iso.datetime().optional(),
  /** In start order. */
  processes: z.array(processEntrySchema).max(10_000)
}).superRefine((state, ctx) => {
  const names = new Set<string>()
  for (const [i, p] of state.processes.entries()) {
    if (names.has(p.name)) ctx.addIssue({ code: 'custom', path: ['processes', i, 'name'], message: `duplicate process name ${p.name}` })
    names.add(p.name)
  }
})

export type TestnetState = z.infer<typeof testnetStateSchema>
export type TestnetProcess = z.infer<typeof processEntrySchema>
export type ProcessRole = TestnetProcess['role']
export type BootstrapProcess = Extract<TestnetProcess, { role: 'bootstrap' }>
export type StorageProcess = Extract<TestnetProcess, { role: 'storage' }>
export type RedisProcess = Extract<TestnetProcess, { role: 'redis' }>
export type WorkerProcess = Extract<TestnetProcess, { role: 'worker' }>
export type SchedulerProcess = Extract<TestnetProcess, { role: 'scheduler' }>
export type DashboardProcess = Extract<TestnetProcess, { role: 'dashboard' }>
/** The fields every entry has (what the supervisor knows before the ready line is read). */
export type ProcessBase = Pick<TestnetProcess, 'name' | 'pid' | 'procStart' | 'host' | 'dataDir' | 'logFile' | 'startedAt'>

import { z } from 'zod'

/**
 * The testnet state file (DIR/testnet.json): what `testnet up` started, so `status`, `down` and
 * clients can find it again. Versioned; validated on every read; replaced atomically. One entry
 * per process, tagged by role — a new process kind (redis, worker, scheduler, dashboard) adds a
 * member to the union.
 *
 *   { "version": 1, "dir": "/abs/DIR", "status": "running", "createdAt": "2026-…Z",
 *     "processes": [
 *       { "name": "bootstrap-0", "role": "bootstrap", "nodeId": "<64 hex>", "host": "127.0.0.1",
 *         "dhtPort": 41234, "pid": 4242, "procStart": "8812345", "dataDir": "/abs/DIR/nodes/bootstrap-0",
 *         "logFile": "/abs/DIR/logs/bootstrap-0.log", "startedAt": "2026-…Z" },
 *       { "name": "node-0", "role": "storage", …, "port": 40001, "dhtPort": 41240, "zone": "zone-0", "capacity": 1073741824 } ] }
 *
 * Layout of DIR: testnet.json, bootstrap.txt, testnet.lock (while up/down run), nodes/<name>/
 * (each node's data dir: key, pieces, DHT peers), logs/<name>.log (stdout and stderr, appended).
 */

export const TESTNET_STATE_VERSION = 1
export const STATE_FILE = 'testnet.json'
/** One HOST:PORT per line: the bootstraps' DHT addresses (what clients read). */
export const BOOTSTRAP_FILE = 'bootstrap.txt'

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

export const processEntrySchema = z.discriminatedUnion('role', [bootstrapEntry, storageEntry])

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
/** The fields every entry has (what the supervisor knows before the ready line is read). */
export type ProcessBase = Pick<TestnetProcess, 'name' | 'pid' | 'procStart' | 'host' | 'dataDir' | 'logFile' | 'startedAt'>

import { z } from 'zod'
import type { AbortOptions } from '../core/abort.js'
import type { NodeId } from '../core/ids.js'
import type { DhtAddress } from '../dht/types.js'
import type { Prober } from './probe.js'
import type { JsonLine } from './spawn.js'
import type { BootstrapProcess, ProcessBase, ProcessRole, StorageProcess, TestnetProcess } from './state.js'

/**
 * Process kinds: what the supervisor needs to know to start, recognise, probe and stop one kind of
 * testnet process. Adding a kind (redis, worker, scheduler, dashboard) = a member of the entry union
 * in state.ts + an entry in KINDS + its processes in plan.ts; the supervisor stays as it is.
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
}

export interface LaunchContext {
  /** How to run this package's CLI: [executable, ...arguments], e.g. [node, /…/bin/batchain.js]. */
  cli: readonly string[]
  /** The process's data directory (created before launch). */
  dataDir: string
  /** DHT addresses of the bootstraps started by earlier stages. */
  bootstraps: readonly DhtAddress[]
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

function formatAddress (a: DhtAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`
}

async function probeDht (entry: { host: string, dhtPort: number, nodeId: string }, prober: Prober, options: AbortOptions): Promise<void> {
  const info = await prober.dhtInfo({ host: entry.host, port: entry.dhtPort }, options)
  if (info.nodeId !== entry.nodeId) throw new Error(`another node answers on ${entry.host}:${entry.dhtPort} (${info.nodeId.slice(0, 12)}…)`)
}

const bootstrapKind: ProcessKind<BootstrapProcess> = {
  role: 'bootstrap',
  stopOrder: 1,
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
  stopOrder: 0,
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

/** Every kind, by role. */
export const KINDS: { readonly [R in ProcessRole]: ProcessKind<Extract<TestnetProcess, { role: R }>> } = {
  bootstrap: bootstrapKind,
  storage: storageKind
}

export function kindOf (role: ProcessRole): ProcessKind {
  return KINDS[role] as ProcessKind
}

import { Option, type Command } from 'commander'
import { InvalidArgumentError } from '../../core/errors.js'
import { second } from '../../core/constants.js'
import {
  DEFAULT_TESTNET_GRACE, MAX_TESTNET_BOOTSTRAPS, MAX_TESTNET_NODES, TESTNET_DIR_ENV, bootstrapPath, createTestnetSupervisor, planTestnet, redisUrlPath, statePath,
  testnetDirFrom, type DownReport, type TestnetProcess, type TestnetState, type TestnetStatus
} from '../../testnet/index.js'
import { intOption, sizeOption } from '../options.js'
import type { Output } from '../output.js'
import { interruptSignal } from '../signals.js'

interface UpOptions {
  dir?: string, nodes: number, bootstraps: number, host: string, capacity?: number, zones?: number, readyTimeout: number, logLevel: string,
  jobs: boolean, dashboard: boolean, grace: number, keepaliveEvery?: number
}
interface DirOptions { dir?: string }
interface DownOptions extends DirOptions { timeout: number }

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

export function registerTestnet (program: Command, output: () => Output): void {
  const testnet = program.command('testnet')
    .description(`a local testnet: bootstrap and storage node processes, Redis, a worker, the scheduler and the dashboard, in one directory (DIR, or $${TESTNET_DIR_ENV})`)

  testnet.command('up')
    .description('start bootstrap nodes, then storage nodes, then (unless --no-jobs) Redis (redis-server, data in DIR/redis), a worker, the scheduler and the dashboard, in the background; wait until all are ready; write DIR/testnet.json, DIR/bootstrap.txt and DIR/redis.url. Refuses when a testnet in DIR is still running')
    .requiredOption('--nodes <n>', 'storage nodes to start', intOption('--nodes', 0, MAX_TESTNET_NODES))
    .option('--dir <dir>', `testnet directory (default $${TESTNET_DIR_ENV})`)
    .option('--bootstraps <n>', 'bootstrap nodes to start first', intOption('--bootstraps', 1, MAX_TESTNET_BOOTSTRAPS), 2)
    .option('--host <host>', 'address every node listens on', '127.0.0.1')
    .option('--capacity <size>', 'bytes of pieces each storage node accepts, e.g. 1GiB (default: the node\'s)', sizeOption)
    .option('--zones <z>', 'label storage nodes zone-0 … zone-(Z-1), round-robin', intOption('--zones', 1, MAX_TESTNET_NODES))
    .option('--ready-timeout <seconds>', 'each node must be ready within this many seconds', intOption('--ready-timeout', 1, 3600), 60)
    .addOption(new Option('--log-level <level>', 'log level of the node processes (their logs: DIR/logs/NAME.log)').choices(LOG_LEVELS).default('info'))
    .option('--grace <seconds>', 'how long a node may be offline before the scheduler counts its pieces as lost (0: at once)', intOption('--grace', 0, 365 * 24 * 3600), DEFAULT_TESTNET_GRACE)
    .option('--keepalive-every <seconds>', 'how often the scheduler pings every node (default: the scheduler\'s)', intOption('--keepalive-every', 1, 24 * 3600))
    .option('--no-jobs', 'start the nodes only: no Redis, worker, scheduler or dashboard')
    .option('--no-dashboard', 'start the jobs processes without the dashboard')
    .action(async (opts: UpOptions) => {
      const out = output()
      const dir = requireDir(opts.dir)
      const plan = planTestnet({
        nodes: opts.nodes,
        bootstraps: opts.bootstraps,
        host: opts.host,
        logLevel: opts.logLevel,
        ...(opts.capacity === undefined ? {} : { capacity: opts.capacity }),
        ...(opts.zones === undefined ? {} : { zones: opts.zones }),
        ...(opts.jobs
          ? { jobs: { grace: opts.grace, dashboard: opts.dashboard, ...(opts.keepaliveEvery === undefined ? {} : { keepaliveEvery: opts.keepaliveEvery }) } }
          : {})
      })
      const { signal, dispose } = interruptSignal()
      try {
        const supervisor = createTestnetSupervisor({
          dir,
          readyTimeoutMs: opts.readyTimeout * second,
          onReady: p => { out.info(`${p.name} ready (pid ${p.pid})`) }
        })
        const state = await supervisor.up(plan, { signal })
        out.result(upResult(state), humanUp)
      } finally {
        dispose()
      }
    })

  testnet.command('status')
    .description('list every process of the testnet (role, node id, host, ports or URL, pid, data dir, online) and the dashboard and Redis URLs; exits 0 even when some are down')
    .option('--dir <dir>', `testnet directory (default $${TESTNET_DIR_ENV})`)
    .action(async (opts: DirOptions) => {
      const out = output()
      const { signal, dispose } = interruptSignal()
      try {
        const status = await createTestnetSupervisor({ dir: requireDir(opts.dir) }).status({ signal })
        out.result({ ...status, ...urls(status.processes) }, humanStatus)
      } finally {
        dispose()
      }
    })

  testnet.command('down')
    .description('stop every process of the testnet (SIGTERM, then SIGKILL after --timeout): dashboard, scheduler, worker, then Redis and the storage nodes, then the bootstraps; nothing to do is not an error')
    .option('--dir <dir>', `testnet directory (default $${TESTNET_DIR_ENV})`)
    .option('--timeout <seconds>', 'seconds a process may take to stop after SIGTERM before it gets SIGKILL', intOption('--timeout', 1, 3600), 10)
    .action(async (opts: DownOptions) => {
      const out = output()
      const { signal, dispose } = interruptSignal()
      try {
        const report = await createTestnetSupervisor({ dir: requireDir(opts.dir), stopTimeoutMs: opts.timeout * second }).down({ signal })
        out.result(report, humanDown)
        const failed = report.processes.filter(p => p.outcome === 'failed')
        if (failed.length > 0) {
          process.stderr.write(`batchain: ${failed.length} process${failed.length === 1 ? '' : 'es'} still alive after SIGKILL: ${failed.map(p => `${p.name} (pid ${p.pid})`).join(', ')}\n`)
          process.exitCode = 1
        }
      } finally {
        dispose()
      }
    })
}

function requireDir (option: string | undefined): string {
  const dir = testnetDirFrom(option)
  if (dir === undefined) throw new InvalidArgumentError(`No testnet directory: pass --dir DIR (or set ${TESTNET_DIR_ENV})`)
  return dir
}

/** The Redis and dashboard URLs of a testnet, when it has them. */
function urls (processes: readonly TestnetProcess[]): { redisUrl?: string, dashboardUrl?: string } {
  const redis = processes.find(p => p.role === 'redis')
  const dashboard = processes.find(p => p.role === 'dashboard')
  return { ...(redis === undefined ? {} : { redisUrl: redis.url }), ...(dashboard === undefined ? {} : { dashboardUrl: dashboard.url }) }
}

function upResult (state: TestnetState): TestnetState & { stateFile: string, bootstrapFile: string, bootstraps: string[], redisFile?: string, redisUrl?: string, dashboardUrl?: string } {
  const found = urls(state.processes)
  return {
    ...state,
    stateFile: statePath(state.dir),
    bootstrapFile: bootstrapPath(state.dir),
    bootstraps: state.processes.filter(p => p.role === 'bootstrap').map(p => `${p.host}:${p.dhtPort}`),
    ...(found.redisUrl === undefined ? {} : { redisFile: redisUrlPath(state.dir) }),
    ...found
  }
}

/** What identifies a process beyond its name: the start of its node id, its worker name (URLs: printed below the table). */
function identity (p: TestnetProcess): string {
  switch (p.role) {
    case 'bootstrap': case 'storage': return p.nodeId.slice(0, 16)
    case 'redis': case 'dashboard': return ''
    case 'worker': return p.workerName ?? ''
    case 'scheduler': return `grace ${p.grace ?? '?'}s`
  }
}

function ports (p: TestnetProcess): string {
  switch (p.role) {
    case 'storage': return `piece ${p.port}  dht ${p.dhtPort}`
    case 'bootstrap': return `dht ${p.dhtPort}`
    case 'redis': case 'dashboard': return `port ${p.port}`
    case 'worker': case 'scheduler': return ''
  }
}

function row (p: TestnetProcess): string {
  const zone = p.role === 'storage' && p.zone !== undefined ? `  ${p.zone}` : ''
  return `${p.name.padEnd(12)} ${p.role.padEnd(9)} ${identity(p).padEnd(16)}  ${p.host}  ${ports(p).padEnd(22)} pid ${String(p.pid).padEnd(7)}${zone}`
}

/** The dashboard and Redis lines of up and status. */
function urlLines (r: { redisUrl?: string, dashboardUrl?: string }): string[] {
  return [
    ...(r.dashboardUrl === undefined ? [] : [`dashboard: ${r.dashboardUrl}`]),
    ...(r.redisUrl === undefined ? [] : [`redis: ${r.redisUrl}`])
  ]
}

function humanUp (r: ReturnType<typeof upResult>): string {
  return [
    `testnet running in ${r.dir}: ${r.processes.length} processes`,
    ...r.processes.map(p => `  ${row(p)}`),
    `bootstraps (${r.bootstrapFile}): ${r.bootstraps.join(' ')}`,
    ...urlLines(r),
    `logs: ${r.dir}/logs/   data: ${r.dir}/nodes/`,
    `next: batchain upload FILE --testnet ${r.dir}   ·   batchain testnet status --dir ${r.dir}   ·   batchain testnet down --dir ${r.dir}`
  ].join('\n')
}

function humanStatus (s: TestnetStatus & { redisUrl?: string, dashboardUrl?: string }): string {
  return [
    `testnet in ${s.dir} (${s.status}): ${s.online} of ${s.total} online`,
    ...s.processes.map(p => `  ${p.online ? 'online ' : 'OFFLINE'} ${row(p)}${p.reason === undefined ? '' : `  (${p.reason})`}`),
    ...urlLines(s)
  ].join('\n')
}

function humanDown (r: DownReport): string {
  if (!r.found) return `no testnet in ${r.dir}: nothing to stop`
  const count = (o: string): number => r.processes.filter(p => p.outcome === o).length
  const parts = [`${count('stopped') + count('killed')} stopped`]
  if (count('killed') > 0) parts.push(`${count('killed')} of them with SIGKILL`)
  if (count('not-running') > 0) parts.push(`${count('not-running')} already stopped`)
  if (count('failed') > 0) parts.push(`${count('failed')} STILL RUNNING`)
  return `testnet in ${r.dir}: ${parts.join(', ')}\n` + r.processes.map(p => `  ${p.name.padEnd(12)} pid ${String(p.pid).padEnd(7)} ${p.outcome}`).join('\n')
}

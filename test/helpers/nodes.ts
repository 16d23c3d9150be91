import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, open } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { CLI, assertBuilt } from './cli.js'

/** A real BatNode process started through the CLI. */
export interface NodeProcess {
  readonly name: string
  readonly dataDir: string
  host: string
  port: number
  nodeId: string
  /** The KadNode's port. */
  dhtPort: number
  proc: ChildProcess | undefined
  /** "HOST:PORT" of the piece server (storage nodes). */
  readonly contact: string
  /** "HOST:PORT" of the KadNode. */
  readonly dhtContact: string
}

export interface SpawnNodeOptions {
  capacity?: string
  port?: number
  /** @defaultValue 'storage' */
  role?: 'storage' | 'bootstrap'
  dhtPort?: number
  /** DHT seeds, "HOST:PORT" each. */
  bootstrap?: readonly string[]
  zone?: string
  /** Seconds; pointer records are republished every third of it. */
  pointerTtl?: number
  /** Ready within this many ms or the spawn fails. @defaultValue 20 s */
  timeoutMs?: number
}

/** Starts `batchain node start` and waits for its ready line. */
export async function spawnNode (name: string, dataDir: string, options: SpawnNodeOptions = {}): Promise<NodeProcess> {
  assertBuilt()
  await mkdir(dataDir, { recursive: true })
  const node: NodeProcess = {
    name, dataDir, host: '127.0.0.1', port: 0, dhtPort: 0, nodeId: '', proc: undefined,
    get contact () { return `${this.host}:${this.port}` },
    get dhtContact () { return `${this.host}:${this.dhtPort}` }
  }
  await startProcess(node, options)
  return node
}

async function startProcess (node: NodeProcess, options: SpawnNodeOptions): Promise<void> {
  const args = [CLI, 'node', 'start', '--json', '--data-dir', node.dataDir, '--role', options.role ?? 'storage', '--dht-port', String(options.dhtPort ?? 0)]
  if (options.role !== 'bootstrap') args.push('--port', String(options.port ?? 0), '--capacity', options.capacity ?? '4GiB')
  if (options.bootstrap !== undefined && options.bootstrap.length > 0) args.push('--bootstrap', options.bootstrap.join(','))
  if (options.zone !== undefined) args.push('--zone', options.zone)
  if (options.pointerTtl !== undefined) args.push('--pointer-ttl', String(options.pointerTtl))
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BATCHAIN_LOG_LEVEL: process.env.BATCHAIN_TEST_NODE_LOG ?? 'warn' } })
  let stderr = ''
  proc.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000)
    if (process.env.BATCHAIN_TEST_NODE_LOG !== undefined) process.stderr.write(`[${node.name}] ${d}`)
  })
  const lines = createInterface({ input: proc.stdout })
  const ready = await new Promise<{ nodeId: string, host: string, port?: number, dhtPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`${node.name} not ready in time: ${stderr}`)) }, options.timeoutMs ?? 20_000)
    lines.on('line', line => {
      try {
        const msg = JSON.parse(line) as { event?: string, nodeId: string, host: string, port?: number, dhtPort: number }
        if (msg.event === 'ready') { clearTimeout(timer); resolve(msg) }
      } catch { /* not our line */ }
    })
    proc.once('exit', code => { clearTimeout(timer); reject(new Error(`${node.name} exited with ${code ?? 'signal'} before ready: ${stderr}`)) })
  })
  node.proc = proc
  node.host = ready.host
  node.port = ready.port ?? 0
  node.dhtPort = ready.dhtPort
  node.nodeId = ready.nodeId
}

/** Stops a node with SIGTERM (SIGKILL after a grace period); resolves with its exit code. */
export async function stopNode (node: NodeProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  const proc = node.proc
  if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return proc?.exitCode ?? null
  node.proc = undefined
  const exited = new Promise<number | null>(resolve => proc.once('exit', code => { resolve(code) }))
  proc.kill(signal)
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
  const code = await exited
  clearTimeout(timer)
  return code
}

/** Restarts a stopped node on the same data dir (a new port unless given). */
export async function restartNode (node: NodeProcess, options: SpawnNodeOptions = {}): Promise<void> {
  await stopNode(node)
  await startProcess(node, options)
}

/** N nodes under root/node-i, started in parallel. */
export async function spawnNodes (n: number, root: string, options: SpawnNodeOptions = {}): Promise<NodeProcess[]> {
  return await Promise.all(Array.from({ length: n }, async (_, i) => await spawnNode(`node-${i}`, join(root, `node-${i}`), options)))
}

export async function stopNodes (nodes: readonly NodeProcess[]): Promise<void> {
  await Promise.all(nodes.map(async n => await stopNode(n)))
}

export function contacts (nodes: readonly NodeProcess[]): string {
  return nodes.map(n => n.contact).join(',')
}

/**
 * Flips one byte of a stored piece on a node's disk (XOR with `mask`, at `fraction` of its
 * length): same size, so only a check of the content can tell.
 */
export async function flipStoredByte (node: Pick<NodeProcess, 'dataDir'>, pieceId: string, { fraction = 0.5, mask = 0xff } = {}): Promise<void> {
  const file = join(node.dataDir, 'store', 'pieces', pieceId.slice(0, 2), pieceId)
  const fh = await open(file, 'r+')
  try {
    const at = Math.floor((await fh.stat()).size * fraction)
    const byte = Buffer.alloc(1)
    await fh.read(byte, 0, 1, at)
    byte[0] = (byte[0] as number) ^ mask
    await fh.write(byte, 0, 1, at)
  } finally {
    await fh.close()
  }
}

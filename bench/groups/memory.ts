import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { GiB, MiB } from '../../src/core/constants.js'
import { parseSize } from '../../src/core/size.js'
import { CLI, runCli } from '../../test/helpers/cli.js'
import { contacts, spawnNodes, stopNodes, type NodeProcess } from '../../test/helpers/nodes.js'
import { round, withBaseline, type BenchGroup } from '../harness.js'

/**
 * Memory must not grow with file size. Uploads and downloads a BENCH_MEMORY_SIZE file
 * (default 10 GiB) through 6 local nodes (4+2) with the real CLI and reports the CLI's
 * peak RSS, with the same figures for a 1 GiB file in the same run as the baseline: a
 * ratio near 1 means memory is bounded. The source is sparse (ftruncate: no disk, and
 * reading it costs nothing; the client encrypts it, so nodes still store random-looking
 * bytes); the download goes to stdout (`-o -`) and into a hash here, never to disk.
 * Node data is deleted between sizes (10 GiB × 1.5 on disk at the peak).
 */
const memory: BenchGroup = async (ctx) => {
  const big = parseSize(process.env.BENCH_MEMORY_SIZE ?? '10GiB')
  const small = Math.min(GiB, big)
  const results = new Map<number, { upload: Run, download: Run }>()
  for (const size of [small, big]) {
    if (results.has(size)) continue
    ctx.signal.throwIfAborted()
    results.set(size, await roundTrip(ctx.tmpDir, size, ctx.signal))
  }
  const a = results.get(small) as { upload: Run, download: Run }
  const b = results.get(big) as { upload: Run, download: Run }
  const extra = { fileBytes: big, baselineFileBytes: small, dataShards: 4, parityShards: 2, nodes: 6, target: 300 }
  ctx.emit(withBaseline('memory.upload.peak_rss', b.upload.peakRss / MiB, 'MiB', a.upload.peakRss / MiB, { ...extra, mbPerSecond: round(b.upload.mbps) }))
  ctx.emit(withBaseline('memory.download.peak_rss', b.download.peakRss / MiB, 'MiB', a.download.peakRss / MiB, { ...extra, mbPerSecond: round(b.download.mbps) }))
}

interface Run { peakRss: number, mbps: number }

async function roundTrip (dir: string, size: number, signal: AbortSignal): Promise<{ upload: Run, download: Run }> {
  const file = join(dir, `sparse-${size}.bin`)
  const fh = await open(file, 'w')
  try { await fh.truncate(size) } finally { await fh.close() }
  const nodesDir = join(dir, `nodes-${size}`)
  let nodes: NodeProcess[] = []
  try {
    nodes = await spawnNodes(6, nodesDir, { capacity: `${Math.ceil((size * 2) / GiB) + 1}GiB` })
    const env = { BATCHAIN_HOME: join(dir, 'home') }
    const up = await runCli(['upload', file, '--nodes', contacts(nodes), '--json'], { env, timeoutMs: 120 * 60_000 })
    if (up.code !== 0) throw new Error(`upload of ${size} bytes failed: ${up.stderr}`)
    await rm(file, { force: true })
    signal.throwIfAborted()
    const down = await downloadToHash(up.json.capability as string, contacts(nodes), env, signal)
    if (down.bytes !== size) throw new Error(`download gave ${down.bytes} bytes, expected ${size}`)
    if (down.sha256 !== up.json.sha256 || down.report.sha256 !== up.json.sha256) throw new Error('downloaded bytes differ')
    return {
      upload: { peakRss: up.json.peakRssBytes, mbps: size / 1e6 / up.json.seconds },
      download: { peakRss: down.report.peakRssBytes, mbps: size / 1e6 / down.report.seconds }
    }
  } finally {
    await stopNodes(nodes)
    await rm(nodesDir, { recursive: true, force: true })
    await rm(file, { force: true })
  }
}

/** `batchain download CAP -o - --json`: file bytes on stdout (hashed here), the JSON report on stderr. */
async function downloadToHash (capability: string, nodes: string, env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<{ sha256: string, bytes: number, report: { sha256: string, peakRssBytes: number, seconds: number } }> {
  const child = spawn(process.execPath, [CLI, 'download', capability, '-o', '-', '--nodes', nodes, '--json'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    signal
  })
  const hash = createHash('sha256')
  let bytes = 0
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { hash.update(chunk); bytes += chunk.length })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr = (stderr + d).slice(-64 * 1024) })
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (c, sig) => { resolve(c ?? (sig === null ? 1 : 128)) })
  })
  if (code !== 0) throw new Error(`download failed (exit ${code}): ${stderr}`)
  const line = stderr.trim().split('\n').reverse().find(l => l.startsWith('{'))
  if (line === undefined) throw new Error(`download printed no JSON report: ${stderr}`)
  return { sha256: hash.digest('hex'), bytes, report: JSON.parse(line) }
}

export default memory

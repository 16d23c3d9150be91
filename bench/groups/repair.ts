import { join } from 'node:path'
import { rm } from 'node:fs/promises'
import { GiB } from '../../src/core/constants.js'
import { parseSize } from '../../src/core/size.js'
import { Queue } from 'bullmq'
import { FileRegistry, bullConnection, closeRedis, createRedis } from '../../src/jobs/index.js'
import { runCli } from '../../test/helpers/cli.js'
import { writeRandomFile } from '../../test/helpers/files.js'
import { eventually } from '../../test/helpers/eventually.js'
import { spawnJsonCli, type JsonProcess } from '../../test/helpers/jobs.js'
import { spawnNode, spawnNodes, stopNode, stopNodes } from '../../test/helpers/nodes.js'
import { startRedis } from '../../test/helpers/redis.js'
import { round, withBaseline, type BenchGroup } from '../harness.js'

/**
 * Repair (issue 4): a file (BENCH_REPAIR_SIZE, 1 GiB by default, 4+2) on 8 storage nodes found
 * through the DHT, with Redis, a scheduler (keepalive every second, grace 0, health check every
 * 2 s) and a worker, as `testnet up` runs them. One storage node holding pieces is killed
 * (SIGKILL) and the loop restores every segment to 6 good pieces by itself.
 *
 * Figures:
 * - repair.throughput: MB/s of rebuilt piece bytes over the repair phase (first repair job start
 *   to last repair job end, from the jobs' own timings), against the baseline of downloading the
 *   same file on the same network in the same run (MB/s of file bytes). Target (issue 4): ≥ 100 MB/s.
 *   Rebuilding a piece reads k pieces, so a repair moves k+1 piece bytes per rebuilt byte.
 * - repair.time_to_health: seconds from the kill to every segment back at k+m good pieces
 *   (detection by keepalive, the health check, and the repairs), grace period 0.
 */
const repair: BenchGroup = async (ctx) => {
  const size = parseSize(process.env.BENCH_REPAIR_SIZE ?? '1GiB')
  const concurrency = process.env.BENCH_REPAIR_CONCURRENCY ?? '4'
  const file = join(ctx.tmpDir, 'source.bin')
  await writeRandomFile(file, size)
  const redis = await startRedis()
  if (redis === undefined) throw new Error('redis-server is needed (apt-get install redis-server)')
  const client = createRedis({ url: redis.url, role: 'client' })
  client.on('error', () => {})
  const files = new FileRegistry({ redis: client })
  const bootstrap = await spawnNode('bootstrap', join(ctx.tmpDir, 'bootstrap'), { role: 'bootstrap' })
  const seed = bootstrap.dhtContact
  const nodes = await spawnNodes(8, join(ctx.tmpDir, 'nodes'), { capacity: `${Math.ceil((size * 2) / GiB) + 1}GiB`, bootstrap: [seed] })
  const processes: JsonProcess[] = []
  const env = { BATCHAIN_HOME: join(ctx.tmpDir, 'home') }
  try {
    const up = await runCli(['upload', file, '--bootstrap', seed, '--redis', redis.url, '--json'], { env, timeoutMs: 30 * 60_000 })
    if (up.code !== 0) throw new Error(`upload failed: ${up.stderr}`)
    const capability = up.json.capability as string
    const manifestId = up.json.manifestId as string
    const out = join(ctx.tmpDir, 'out.bin')
    const down = await runCli(['download', capability, '-o', out, '--bootstrap', seed, '--json'], { env, timeoutMs: 30 * 60_000 })
    if (down.code !== 0) throw new Error(`download failed: ${down.stderr}`)
    await rm(out, { force: true })
    const downloadMbps = size / 1e6 / (down.json.seconds as number)

    processes.push(await spawnJsonCli('scheduler', ['scheduler', '--redis', redis.url, '--bootstrap', seed, '--keepalive-every', '1', '--misses', '1', '--grace', '0', '--ping-timeout', '2', '--check-every', '2', '--audit-every', '86400']))
    const worker = await spawnJsonCli('worker', ['worker', '--redis', redis.url, '--bootstrap', seed, '--concurrency', concurrency])
    processes.push(worker)
    const status = await runCli(['status', capability, '--bootstrap', seed, '--redis', redis.url, '--json'], { timeoutMs: 10 * 60_000 })
    if (status.json?.healthy !== true) throw new Error(`file not healthy before the kill: ${status.stderr}`)
    const held = new Map<string, number>()
    for (const s of status.json.segments as Array<{ pieces: Array<{ nodeId: string }> }>) for (const p of s.pieces) held.set(p.nodeId, (held.get(p.nodeId) ?? 0) + 1)
    const victim = nodes.filter(n => held.has(n.nodeId)).sort((a, b) => (held.get(b.nodeId) ?? 0) - (held.get(a.nodeId) ?? 0))[0]
    if (victim === undefined) throw new Error('no node holds pieces')
    const lostPieces = held.get(victim.nodeId) ?? 0
    const before = await files.get(manifestId)
    const rebuiltBefore = before?.repairs.bytesRebuilt ?? 0

    const killedAt = performance.now()
    const killedAtEpoch = Date.now()
    await stopNode(victim, 'SIGKILL')
    const segments = before?.segments ?? 0
    await eventually('every segment back at 6 good pieces', async () => {
      const r = await files.get(manifestId)
      const repaired = r === undefined ? 0 : r.repairs.bytesRebuilt - rebuiltBefore
      return r?.health !== undefined && repaired > 0 && r.health.good.length === segments && r.health.degraded === 0 && r.health.good.every(g => g === 6) ? r : undefined
    }, { attempts: 3600, everyMs: 250 })
    const healthySeconds = (performance.now() - killedAt) / 1000
    const after = await files.get(manifestId)
    const bytes = (after?.repairs.bytesRebuilt ?? 0) - rebuiltBefore
    // The repair phase: first repair job's start to the last one's end, as BullMQ recorded them.
    const queue = new Queue('repair', { connection: bullConnection({ url: redis.url, role: 'client' }), prefix: 'batchain' })
    // Repair jobs that rebuilt something: repair-segments (several segments each) and the older
    // one-segment repair-segment; each segment's result carries its phase timings.
    type SegmentResult = { segment: number, rebuilt: number, ms?: Record<string, number> }
    const segmentsOf = (j: { name: string, data: unknown, returnvalue: unknown }): SegmentResult[] => {
      const rv = j.returnvalue as { rebuilt?: number, segment?: number, segments?: SegmentResult[], ms?: Record<string, number> } | undefined
      if (j.name === 'repair-segments' || Array.isArray(rv?.segments)) return (rv?.segments ?? []).filter(s => s.rebuilt > 0)
      return rv?.rebuilt !== undefined && rv.rebuilt > 0 ? [{ segment: (j.data as { segment: number }).segment, rebuilt: rv.rebuilt, ...(rv.ms === undefined ? {} : { ms: rv.ms }) }] : []
    }
    const jobs = (await queue.getJobs(['completed'], 0, 10_000)).filter(j => (j.name === 'repair-segment' || j.name === 'repair-segments') && segmentsOf(j).length > 0)
    await queue.close()
    if (jobs.length === 0) throw new Error('no repair job completed')
    const repairSeconds = (Math.max(...jobs.map(j => j.finishedOn ?? 0)) - Math.min(...jobs.map(j => j.processedOn ?? Number.MAX_SAFE_INTEGER))) / 1000
    const repairs = jobs
    const repairedSegments = jobs.flatMap(segmentsOf)
    // Where time to health goes: detection and the first check, the repairs, and the last confirmation.
    const firstRepairStart = Math.min(...jobs.map(j => j.processedOn ?? Number.MAX_SAFE_INTEGER))
    const lastRepairEnd = Math.max(...jobs.map(j => j.finishedOn ?? 0))
    const timeline = { firstRepairAfterS: round((firstRepairStart - killedAtEpoch) / 1000, 2), lastRepairAfterS: round((lastRepairEnd - killedAtEpoch) / 1000, 2) }
    // Mean milliseconds per phase of a segment's repair (client/repair.ts timings). In a job of
    // several segments, segments overlap (a window of them in flight), so these do not add up to
    // the job's time; jobMs is the mean wall time of a job, and batchMs the per-job locate and publish.
    const phases: Record<string, number> = {}
    for (const s of repairedSegments) for (const [k, v] of Object.entries(s.ms ?? {})) phases[k] = (phases[k] ?? 0) + v / repairedSegments.length
    const batchMs: Record<string, number> = {}
    for (const j of jobs) for (const [k, v] of Object.entries((j.returnvalue as { ms?: Record<string, number> }).ms ?? {})) if (k === 'locate' || k === 'publish') batchMs[k] = (batchMs[k] ?? 0) + v / jobs.length
    const jobMs = jobs.reduce((sum, j) => sum + ((j.finishedOn ?? 0) - (j.processedOn ?? 0)), 0) / jobs.length
    const extra = { phaseMs: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(v)])), batchMs: Object.fromEntries(Object.entries(batchMs).map(([k, v]) => [k, Math.round(v)])), jobMs: Math.round(jobMs), fileBytes: size, dataShards: 4, parityShards: 2, nodes: 8, lostPieces, repairJobs: repairs.length, repairedSegments: repairedSegments.length, workerConcurrency: Number(concurrency), target: 100 }
    ctx.emit(withBaseline('repair.throughput', bytes / 1e6 / repairSeconds, 'MB/s', downloadMbps, { ...extra, rebuiltBytes: bytes, repairSeconds: round(repairSeconds, 2) }))
    // File data brought back to full redundancy: the segments repaired (8 MiB of plaintext each,
    // the last one shorter), per second of the repair phase.
    const segmentSize = 8 * 1024 * 1024
    const restored = new Set(repairedSegments.map(s => s.segment)).size * segmentSize
    ctx.emit(withBaseline('repair.restored_data', Math.min(restored, size) / 1e6 / repairSeconds, 'MB/s', downloadMbps, { ...extra, note: 'plaintext bytes of the segments brought back to k+m good pieces' }))
    // Piece bytes a repair moves per rebuilt byte: k read (checked) + 1 written. Against the same
    // download baseline this says how close repair runs to the network's transfer rate.
    ctx.emit(withBaseline('repair.bytes_moved', 5 * bytes / 1e6 / repairSeconds, 'MB/s', downloadMbps, { ...extra, note: 'k + 1 = 5 piece bytes moved per rebuilt byte (4+2)' }))
    ctx.emit({ name: 'repair.time_to_health', value: round(healthySeconds, 2), unit: 's', ...extra, ...timeline, graceSeconds: 0, keepaliveSeconds: 1, checkSeconds: 2 })
  } finally {
    await Promise.all(processes.map(async p => await p.stop()))
    await stopNodes(nodes)
    await stopNode(bootstrap)
    await closeRedis(client)
    await redis.close()
  }
}

export default repair

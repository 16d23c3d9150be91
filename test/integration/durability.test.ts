import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { open, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import { FileRegistry, NodeRegistry, bullConnection, closeRedis, createRedis, reputationScore } from '../../src/jobs/index.js'
import { runCli } from '../helpers/cli.js'
import { sha256File, writeRandomFile } from '../helpers/files.js'
import { eventually } from '../helpers/eventually.js'
import { spawnJsonCli, type JsonProcess } from '../helpers/jobs.js'
import { restartNode, spawnNode, stopNode, type NodeProcess } from '../helpers/nodes.js'
import { requireRedis, startRedis, type RedisServer } from '../helpers/redis.js'
import { tempDir, type TempDir } from '../helpers/tmp.js'

/**
 * The durability loop end to end, every component real: redis-server, a bootstrap and 8 storage
 * nodes (processes, found through the DHT), `batchain worker` and `batchain scheduler` processes,
 * and the CLI. Keepalive runs every second with no grace, so a stopped node's pieces count as lost
 * after two missed pings (one miss under a loaded CI machine must not lose a node) and the health
 * check (every 2 s) queues their repairs.
 *
 * The tests run in order on one network and one file: each starts from the previous one's end
 * state (every segment at k + m good pieces).
 */
interface StatusPiece { id: string, node: string | null, nodeId: string | null, state: string, holders: Array<{ nodeId: string, state: string }> }
interface Status { healthy: boolean, minGood: number, segments: Array<{ index: number, good: number, total: number, pieces: StatusPiece[] }> }

describe('durability: keepalive, audit, repair, reputation', () => {
  let redis: RedisServer | undefined
  let tmp: TempDir
  let client: Redis
  let nodes: NodeRegistry
  let files: FileRegistry
  let bootstrap: NodeProcess
  const storage: NodeProcess[] = []
  const processes: JsonProcess[] = []
  let worker: JsonProcess | undefined
  let capability = ''
  let manifestId = ''
  let source = ''
  let seed = ''

  const status = async (): Promise<Status> => {
    const r = await runCli(['status', capability, '--bootstrap', seed, '--redis', (redis as RedisServer).url, '--json'])
    assert.ok(r.json !== undefined && r.json.error === undefined, `status failed (exit ${r.code}): ${r.stderr}`)
    return r.json as Status
  }

  /** Every piece's holders on disk, over every running storage node: piece id → node ids. */
  const piecesOnDisk = async (): Promise<Map<string, string[]>> => {
    const out = new Map<string, string[]>()
    for (const node of storage) {
      if (node.proc === undefined) continue
      const root = join(node.dataDir, 'store', 'pieces')
      for (const prefix of await readdir(root).catch(() => [] as string[])) {
        for (const name of await readdir(join(root, prefix))) {
          if (!/^[0-9a-f]{64}$/.test(name)) continue
          out.set(name, [...(out.get(name) ?? []), node.nodeId])
        }
      }
    }
    return out
  }

  /**
   * The running node that is the only holder of the most pieces (nodes that came back earlier hold
   * spare copies of some), and those pieces: what its loss leaves to rebuild.
   */
  const soleHolderVictim = (s: Status): { victim: NodeProcess, lost: Set<string> } => {
    const counts = new Map<string, number>()
    for (const seg of s.segments) for (const p of seg.pieces) if (p.nodeId !== null && p.holders.length === 1) counts.set(p.nodeId, (counts.get(p.nodeId) ?? 0) + 1)
    const victim = storage.filter(n => n.proc !== undefined).sort((a, b) => (counts.get(b.nodeId) ?? 0) - (counts.get(a.nodeId) ?? 0))[0] as NodeProcess
    const lost = new Set(s.segments.flatMap(seg => seg.pieces.filter(p => p.nodeId === victim.nodeId && p.holders.length === 1).map(p => p.id)))
    return { victim, lost }
  }

  /** Nodes that hold a copy of the piece now and did not before. */
  const newCopies = (before: Map<string, string[]>, now: Map<string, string[]>, pieceId: string): string[] =>
    (now.get(pieceId) ?? []).filter(n => !(before.get(pieceId) ?? []).includes(n))

  /**
   * What the repair queue, the workers and keepalive are doing, for a failure message. CI shows
   * only the end of a failure, so the node states and the workers' own logs come last.
   */
  const diagnose = async (workers: ReadonlyArray<JsonProcess | undefined> = [worker]): Promise<string> => {
    const queue = new Queue('repair', { connection: bullConnection({ url: (redis as RedisServer).url, role: 'client' }), prefix: 'batchain' })
    try {
      const counts = await queue.getJobCounts()
      const dedup = await client.keys('batchain:repair:de:*')
      const holders = await Promise.all(dedup.map(async k => `${k}=${String(await client.get(k))}`))
      const active = (await queue.getJobs(['active', 'prioritized', 'delayed', 'failed', 'waiting'], 0, 20)).map(j => ({ id: j.id, name: j.name, data: j.data, progress: j.progress, attempts: j.attemptsMade, failed: j.failedReason, processedOn: j.processedOn }))
      const segmentJobs = (await queue.getJobs(['completed'], 0, 200)).filter(j => j.name === 'repair-segments' || j.name === 'repair-segment').map(j => ({ id: j.id, data: j.data, rv: j.returnvalue, fin: j.finishedOn }))
      const s = await status().catch(e => String(e))
      const now = Date.now()
      const registry = (await nodes.list()).map(n => `${n.nodeId.slice(0, 12)} ${n.state} missed=${n.missed}${n.lastError === undefined ? '' : ` err=${n.lastError}`}${n.lastSeen === undefined ? '' : ` seen=-${now - n.lastSeen}ms`} rep=${reputationScore(n).toFixed(2)} ${n.piece.host}:${n.piece.port}`)
      const running = storage.map(n => `${n.nodeId.slice(0, 12)}=${n.proc === undefined ? 'stopped' : 'running'}`)
      const logs = workers.filter(w => w !== undefined).map(w => `[${w.name}] events ${JSON.stringify(w.events.filter(e => e.queue !== 'keepalive').slice(-8))} stderr ${w.stderr().split('\n').filter(l => !l.includes('"ping"')).slice(-25).join('\n')}`)
      return `repair queue ${JSON.stringify(counts)} dedup ${holders.join(' ')} completed segment jobs ${JSON.stringify(segmentJobs)} jobs ${JSON.stringify(active)}; status ${JSON.stringify(s).slice(0, 3000)};\n${logs.join('\n')}\nstorage processes ${running.join(' ')}\nnode registry:\n${registry.join('\n')}`
    } finally {
      await queue.close()
    }
  }

  before(async () => {
    tmp = await tempDir('durability')
    redis = await startRedis()
    if (redis === undefined) return
    client = createRedis({ url: redis.url, role: 'client' })
    client.on('error', () => {})
    nodes = new NodeRegistry({ redis: client })
    files = new FileRegistry({ redis: client })
    bootstrap = await spawnNode('bootstrap', join(tmp.dir, 'bootstrap'), { role: 'bootstrap' })
    seed = bootstrap.dhtContact
    storage.push(...await Promise.all(Array.from({ length: 8 }, async (_, i) => await spawnNode(`s${i}`, join(tmp.dir, `s${i}`), { bootstrap: [seed], capacity: '256MiB' }))))
    source = join(tmp.dir, 'source.bin')
    await writeRandomFile(source, 3 * 1024 * 1024 + 12345)
  })

  after(async () => {
    await Promise.all(processes.map(async p => await p.stop()))
    await Promise.all([...storage, bootstrap].filter(n => n !== undefined).map(async n => await stopNode(n)))
    if (client !== undefined) await closeRedis(client)
    await redis?.close()
    await tmp?.[Symbol.asyncDispose]()
  })

  test('an upload with --redis registers the file; the scheduler and worker register every storage node through the DHT', async (t) => {
    if (!requireRedis(redis, t)) return
    const up = await runCli(['upload', source, '--bootstrap', seed, '--redis', redis.url, '--segment-size', '1MiB', '--json'])
    assert.equal(up.code, 0, up.stderr)
    capability = up.json.capability
    manifestId = up.json.manifestId
    assert.equal(up.json.registered, `batchain:v1:${manifestId}`)
    const record = await files.get(manifestId)
    assert.ok(record !== undefined, 'file registered')
    assert.equal(record.capability, `batchain:v1:${manifestId}`, 'only the verify capability is kept')
    assert.equal(record.segments, 4)
    assert.equal(record.label, 'source.bin')
    assert.equal(JSON.stringify(await client.hgetall(`batchain:registry:file:${manifestId}`)).includes(capability.split(':')[3] as string), false, 'the key is nowhere in the record')

    processes.push(await spawnJsonCli('scheduler', ['scheduler', '--redis', redis.url, '--bootstrap', seed, '--keepalive-every', '1', '--misses', '2', '--grace', '0', '--ping-timeout', '3', '--check-every', '2', '--audit-every', '3600', '--lock-ttl', '3000']))
    worker = await spawnJsonCli('worker', ['worker', '--redis', redis.url, '--bootstrap', seed, '--concurrency', '2', '--lock-duration', '3000', '--stalled-interval', '1000'], { BATCHAIN_LOG_LEVEL: 'info' })
    processes.push(worker)
    await eventually('all 8 storage nodes registered and online', async () => {
      const list = await nodes.list()
      return list.filter(n => n.state === 'online').length === 8 ? list : undefined
    }, { attempts: 300, everyMs: 200 })
    const healthy = await eventually('status of the new file', async () => { const s = await status(); return s.healthy === undefined ? undefined : s }, { attempts: 10, everyMs: 1000 })
    assert.equal(healthy.healthy, true)
    assert.equal(healthy.segments.length, 4)
    for (const s of healthy.segments) assert.equal(s.good, 6)
  })

  test('stop 2 of 8 storage nodes holding pieces: repair restores every segment to k+m good pieces on online nodes, the file downloads identical, and with the 2 nodes back nothing is counted twice', async (t) => {
    if (!requireRedis(redis, t)) return
    const before = await status()
    const holding = new Set(before.segments.flatMap(s => s.pieces.map(p => p.nodeId)))
    const victims = storage.filter(n => holding.has(n.nodeId)).slice(0, 2)
    assert.equal(victims.length, 2)
    const lostIds = new Set(victims.map(v => v.nodeId))
    const lostPieces = before.segments.flatMap(s => s.pieces.filter(p => lostIds.has(p.nodeId ?? ''))).length
    assert.ok(lostPieces > 0)
    await Promise.all(victims.map(async v => await stopNode(v)))

    await eventually('both stopped nodes counted as lost', async () => {
      const recs = await Promise.all(victims.map(async v => await nodes.get(v.nodeId)))
      return recs.every(r => r?.state === 'lost') ? true : undefined
    }, { attempts: 300, everyMs: 200 })
    const repaired = await eventually('every segment back to 6 good pieces, none on a stopped node', async () => {
      const s = await status()
      const ok = s.segments.every(seg => seg.good === 6 && seg.pieces.every(p => p.state === 'good' && !lostIds.has(p.nodeId ?? '')))
      return ok ? s : undefined
    }, { attempts: 120, everyMs: 1000, withinMs: 150_000 }).catch(async err => { throw new Error(`${(err as Error).message}: ${await diagnose()}`) })
    assert.equal(repaired.healthy, true)
    const record = await files.get(manifestId)
    assert.ok(record !== undefined)
    assert.ok(record.repairs.piecesRebuilt >= lostPieces, `at least the ${lostPieces} lost pieces were rebuilt (recorded ${record.repairs.piecesRebuilt})`)
    // Every piece now on exactly one running node: repairs placed no duplicate copies.
    const onDisk = await piecesOnDisk()
    for (const seg of repaired.segments) for (const p of seg.pieces) assert.equal(onDisk.get(p.id)?.length, 1, `piece ${p.id.slice(0, 12)} on exactly one running node`)

    const out = join(tmp.dir, 'after-repair.bin')
    const down = await runCli(['download', capability, '-o', out, '--bootstrap', seed, '--json'])
    assert.equal(down.code, 0, down.stderr)
    assert.equal(await sha256File(out), await sha256File(source))

    // The stopped nodes come back (new ports: the DHT finds them); their old pieces count again
    // as holders, but a piece is counted once.
    await Promise.all(victims.map(async v => { await restartNode(v, { bootstrap: [seed], capacity: '256MiB' }) }))
    await eventually('returned nodes online again', async () => {
      const recs = await Promise.all(victims.map(async v => await nodes.get(v.nodeId)))
      return recs.every(r => r?.state === 'online') ? true : undefined
    }, { attempts: 300, everyMs: 200 })
    // A health check sees the returned nodes' old copies again (pieces per holder), and still
    // counts each piece once: 6 of 6, nothing degraded, nothing queued for repair.
    const recorded = await eventually('a health check that sees the returned holders', async () => {
      const r = await files.get(manifestId)
      const seen = victims.every(v => (r?.health?.nodes[v.nodeId] ?? 0) > 0)
      return r?.health !== undefined && seen ? r : undefined
    }, { attempts: 120, everyMs: 500 })
    assert.deepEqual(recorded.health?.good, [6, 6, 6, 6], 'a piece held twice still counts once')
    assert.equal(recorded.health?.degraded, 0)
    const held = Object.values(recorded.health?.nodes ?? {}).reduce((a, b) => a + b, 0)
    assert.ok(held > 24, `the returned copies are seen (${held} holder-pieces for 24 pieces)`)
    const back = await status()
    for (const seg of back.segments) {
      assert.equal(seg.total, 6)
      assert.equal(seg.good, 6, `segment ${seg.index}: a piece held twice still counts once`)
    }
  })

  test('a corrupted piece on disk: the next audit fails it, repair replaces it, and the holder\'s reputation drops', async (t) => {
    if (!requireRedis(redis, t)) return
    const s = await status()
    // A piece with a single holder (nodes that came back earlier hold spare copies of some).
    const seg = s.segments.find(x => x.pieces.some(p => p.holders.length === 1))
    const target = seg?.pieces.find(p => p.holders.length === 1)
    assert.ok(seg !== undefined && target !== undefined && target.nodeId !== null)
    const shard = seg.pieces.indexOf(target)
    const holder = storage.find(n => n.nodeId === target.nodeId && n.proc !== undefined)
    assert.ok(holder !== undefined, 'the holder is running')
    const before = await nodes.get(holder.nodeId)
    assert.ok(before !== undefined)
    // Flip every byte of the piece on disk (same size: only a content check can tell).
    const fh = await open(join(holder.dataDir, 'store', 'pieces', target.id.slice(0, 2), target.id), 'r+')
    try {
      const { size } = await fh.stat()
      const buf = Buffer.alloc(size)
      await fh.read(buf, 0, size, 0)
      for (let i = 0; i < size; i++) buf[i] = (buf[i] as number) ^ 0xff
      await fh.write(buf, 0, size, 0)
    } finally {
      await fh.close()
    }

    const queued = await runCli(['audit', capability, '--bootstrap', seed, '--redis', (redis as RedisServer).url, '--sample', '6', '--json'])
    assert.equal(queued.code, 0, queued.stderr)
    assert.equal(queued.json.queued, true)
    const audited = await eventually('the audit job recorded the failure', async () => {
      const r = await files.get(manifestId)
      return r?.lastAudit !== undefined && r.lastAudit.failed > 0 ? r : undefined
    }, { attempts: 120, everyMs: 500 }).catch(async err => {
      throw new Error(`${(err as Error).message}; record ${JSON.stringify((await files.get(manifestId))?.lastAudit)}; worker alive ${String(worker?.proc.exitCode)}; events ${JSON.stringify(worker?.events.filter(e => e.queue !== 'keepalive').slice(-6))}; stderr ${worker?.stderr().slice(-3000) ?? ''}`)
    })
    assert.deepEqual(audited.lastAudit?.failedNodes, [holder.nodeId], 'only the corrupted piece\'s holder failed')
    assert.deepEqual(audited.badHolders[target.id], [holder.nodeId])
    const after = await nodes.get(holder.nodeId)
    assert.ok(after !== undefined)
    assert.ok(reputationScore(after) < reputationScore(before), `reputation dropped: ${reputationScore(before)} → ${reputationScore(after)}`)
    assert.equal(after.auditFailures, before.auditFailures + 1)

    const fixed = await eventually('the bad piece replaced by a good copy elsewhere', async () => {
      const st = await status()
      const p = st.segments[seg.index]?.pieces[shard]
      return st.segments[seg.index]?.good === 6 && p?.state === 'good' && p.nodeId !== holder.nodeId ? st : undefined
    }, { attempts: 120, everyMs: 1000, withinMs: 150_000 }).catch(async err => { throw new Error(`${(err as Error).message}: ${await diagnose()}`) })
    assert.equal(fixed.healthy, true)
    const down = await runCli(['download', capability, '-o', join(tmp.dir, 'after-audit.bin'), '--bootstrap', seed, '--json'])
    assert.equal(down.code, 0, down.stderr)
    assert.equal(await sha256File(join(tmp.dir, 'after-audit.bin')), await sha256File(source))
  })

  test('a worker killed in the middle of a multi-segment repair job: the job runs again on another worker, confirms what was placed, and no piece is stored twice', async (t) => {
    if (!requireRedis(redis, t)) return
    const url = (redis as RedisServer).url
    // Only the failpointed worker takes repairs; a keepalive-only worker keeps node states current.
    await worker?.stop()
    const keepalive = await spawnJsonCli('keepalive-worker', ['worker', '--redis', url, '--queues', 'keepalive,audit', '--bootstrap', seed], { BATCHAIN_LOG_LEVEL: 'info' })
    processes.push(keepalive)
    const doomed = await spawnJsonCli('doomed-worker', ['worker', '--redis', url, '--queues', 'repair', '--bootstrap', seed, '--concurrency', '1', '--lock-duration', '2000', '--stalled-interval', '1000'], { BATCHAIN_FAILPOINTS: 'repair.after-place=sleep(60000)', BATCHAIN_LOG_LEVEL: 'info' })
    processes.push(doomed)

    const { victim, lost } = soleHolderVictim(await status())
    await stopNode(victim)
    const copiesBefore = await piecesOnDisk()

    const queue = new Queue('repair', { connection: bullConnection({ url, role: 'client' }), prefix: 'batchain' })
    try {
      const job = await eventually('a repair job that placed a piece and waits at the failpoint', async () => {
        const active = await queue.getActive()
        return active.find(j => j.name === 'repair-segments' && Array.isArray((j.progress as { placed?: unknown[] } | undefined)?.placed) && ((j.progress as { placed: unknown[] }).placed.length > 0))
      }, { attempts: 240, everyMs: 250 }).catch(async err => { throw new Error(`${(err as Error).message}: ${await diagnose([keepalive, doomed])}`) })
      const placedBefore = (job.progress as { placed: Array<{ segment: number, pieceId: string, node: { nodeId: string } }> }).placed
      // One job covers every degraded segment of the file (they are in one aligned range), and
      // the worker is killed while it is in the middle of it.
      const jobSegments = (job.data as { segments: number[] }).segments
      assert.ok(jobSegments.length >= 2, `a multi-segment job (segments ${JSON.stringify(jobSegments)})`)
      assert.ok(placedBefore.every(p => jobSegments.includes(p.segment)), 'each saved placement names its segment')
      assert.equal(await doomed.stop('SIGKILL'), null, 'worker killed by SIGKILL')

      const rescuer = await spawnJsonCli('rescuer', ['worker', '--redis', url, '--queues', 'repair', '--bootstrap', seed, '--lock-duration', '3000', '--stalled-interval', '1000'])
      processes.push(rescuer)
      worker = rescuer
      await rescuer.waitFor(e => e.event === 'completed' && e.jobId === job.id, `the killed job ${String(job.id)} completed by the rescuer`, 120_000)
        .catch(async err => { throw new Error(`${(err as Error).message}: ${await diagnose([keepalive, rescuer])}`) })
      // The re-run repaired every segment of the job, confirming the killed run's placements
      // (their nodes are the ones it reports) rather than placing those pieces again.
      const done = await queue.getJob(job.id as string)
      const rv = done?.returnvalue as { segments: Array<{ segment: number, nodes: string[] }>, failed: unknown[] } | undefined
      assert.deepEqual(rv?.failed, [])
      assert.deepEqual(rv?.segments.map(x => x.segment), jobSegments)
      for (const p of placedBefore) {
        assert.ok(rv?.segments.find(x => x.segment === p.segment)?.nodes.includes(p.node.nodeId), `segment ${p.segment}: the killed run's placement on ${p.node.nodeId.slice(0, 12)} confirmed`)
      }
      const healed = await eventually('every segment back to 6 good pieces', async () => {
        const st = await status()
        return st.healthy && st.segments.every(seg => seg.good === 6) ? st : undefined
      }, { attempts: 120, everyMs: 1000, withinMs: 150_000 }).catch(async err => { throw new Error(`${(err as Error).message}: ${await diagnose([keepalive, rescuer])}`) })
      // Copies made by the repairs: each rebuilt piece gained exactly one, and the killed run's
      // placement is the one that stayed (not stored a second time elsewhere).
      const onDisk = await piecesOnDisk()
      for (const seg of healed.segments) {
        for (const p of seg.pieces) {
          const added = newCopies(copiesBefore, onDisk, p.id)
          assert.equal(added.length, lost.has(p.id) ? 1 : 0, `piece ${p.id.slice(0, 12)}: ${added.length} new copies`)
        }
      }
      for (const p of placedBefore) {
        const added = newCopies(copiesBefore, onDisk, p.pieceId)
        assert.deepEqual(added, [p.node.nodeId], 'the killed run\'s placement was kept, not stored again elsewhere')
      }
    } finally {
      await queue.close()
    }
  })

  test('a repair that stored a rebuilt piece but failed before recording or publishing it: the retry finds that copy by asking the nodes, has its holder sign its record again and publishes it, and the checker sees the segment whole', async (t) => {
    if (!requireRedis(redis, t)) return
    const url = (redis as RedisServer).url
    // The last test's victim comes back (with its old copies), for room to place rebuilt pieces.
    const stopped = storage.filter(n => n.proc === undefined)
    await Promise.all(stopped.map(async n => { await restartNode(n, { bootstrap: [seed], capacity: '256MiB' }) }))
    await eventually('restarted nodes online', async () => {
      const recs = await Promise.all(stopped.map(async n => await nodes.get(n.nodeId)))
      return recs.every(r => r?.state === 'online') ? true : undefined
    }, { attempts: 300, everyMs: 200 })
    await eventually('the file healthy before the next loss', async () => { const st = await status(); return st.healthy && st.segments.every(seg => seg.good === 6) ? st : undefined }, { attempts: 120, everyMs: 1000, withinMs: 150_000 })
      .catch(async err => { throw new Error(`${(err as Error).message}: ${await diagnose([worker])}`) })
    // Repairs now run on a worker that fails right after each rebuilt piece is stored: the copy is
    // on its node, but in no job progress and in no pointer record.
    await worker?.stop()
    const flaky = await spawnJsonCli('flaky-worker', ['worker', '--redis', url, '--queues', 'repair', '--bootstrap', seed, '--lock-duration', '3000', '--stalled-interval', '1000'], { BATCHAIN_FAILPOINTS: 'repair.before-record=throw', BATCHAIN_LOG_LEVEL: 'info' })
    processes.push(flaky)
    worker = flaky

    const { victim, lost } = soleHolderVictim(await status())
    assert.ok(lost.size > 0, 'the victim is the only holder of some pieces')
    const copiesBefore = await piecesOnDisk()
    await stopNode(victim)

    await flaky.waitFor(e => e.event === 'failed' && e.code === 'BATCHAIN_ERR_FAILPOINT', 'a repair attempt that failed after storing a piece', 120_000)
      .catch(async err => { throw new Error(`${(err as Error).message}: ${await diagnose([flaky])}`) })
    // The status (like the checker) finds holders through their pointer records only.
    const healed = await eventually('every segment back to 6 good pieces, as the network finds them', async () => {
      const st = await status()
      return st.healthy && st.segments.every(seg => seg.good === 6) ? st : undefined
    }, { attempts: 120, everyMs: 1000, withinMs: 150_000 }).catch(async err => { throw new Error(`${(err as Error).message}: ${await diagnose([flaky])}`) })
    // Each lost piece gained exactly one copy, the one the failed attempt stored, and the network
    // now finds it there.
    const onDisk = await piecesOnDisk()
    for (const seg of healed.segments) {
      for (const p of seg.pieces) {
        const added = newCopies(copiesBefore, onDisk, p.id)
        assert.equal(added.length, lost.has(p.id) ? 1 : 0, `piece ${p.id.slice(0, 12)}: ${added.length} new copies`)
        if (lost.has(p.id)) assert.ok(p.holders.some(h => h.nodeId === added[0] && h.state === 'good'), `piece ${p.id.slice(0, 12)}: the stored copy is found through its record`)
      }
    }
    const done = flaky.events.filter(e => e.event === 'completed' && e.name === 'repair-segments')
    assert.ok(done.some(e => (e.result as { segments: Array<{ skipped: boolean }> }).segments.some(x => x.skipped)), 'a retry found the stored copy and had nothing to rebuild')
  })
})

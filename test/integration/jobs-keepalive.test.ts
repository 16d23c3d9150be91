import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import { JobProducer, NodeRegistry, bullConnection, closeRedis, createRedis, pingJobId, startWorkers, type KeepalivePolicy, type WorkerEvent } from '../../src/jobs/index.js'
import { runCli } from '../helpers/cli.js'
import { eventually } from '../helpers/eventually.js'
import { spawnJsonCli, type JsonProcess } from '../helpers/jobs.js'
import { restartNode, spawnNode, stopNode, type NodeProcess } from '../helpers/nodes.js'
import { requireRedis, startRedis, type RedisServer } from '../helpers/redis.js'
import { tempDir, type TempDir } from '../helpers/tmp.js'
import { freePort } from '../helpers/ports.js'

/**
 * Keepalive and job hygiene against a real redis-server and real `batchain` processes on loopback.
 * Each test uses its own key prefix, so the queues of one never feed the workers of another.
 */
describe('jobs: keepalive, dedupe, bad payloads', () => {
  let redis: RedisServer | undefined
  let tmp: TempDir
  let client: Redis
  const processes: JsonProcess[] = []
  const nodes: NodeProcess[] = []

  before(async () => {
    tmp = await tempDir('jobs-keepalive')
    redis = await startRedis()
    if (redis !== undefined) {
      client = createRedis({ url: redis.url, role: 'client' })
      client.on('error', () => {})
    }
  })

  after(async () => {
    await Promise.all(processes.map(async p => await p.stop()))
    await Promise.all(nodes.map(async n => await stopNode(n)))
    if (client !== undefined) await closeRedis(client)
    await redis?.close()
    await tmp?.[Symbol.asyncDispose]()
  })

  test('a stopped node goes offline after N missed pings, its pieces count as lost after the grace, and it is online again after a restart', async (t) => {
    if (!requireRedis(redis, t)) return
    const node = await spawnNode('ka-node', join(tmp.dir, 'ka-node'), { capacity: '64MiB' })
    nodes.push(node)
    const prefix = 'ka'
    const scheduler = await spawnJsonCli('scheduler', ['scheduler', '--redis', redis.url, '--prefix', prefix, '--keepalive-every', '1', '--misses', '2', '--grace', '0', '--ping-timeout', '2', '--nodes', node.contact, '--lock-ttl', '3000'])
    processes.push(scheduler)
    const worker = await spawnJsonCli('worker', ['worker', '--redis', redis.url, '--prefix', prefix, '--queues', 'keepalive'])
    processes.push(worker)
    await scheduler.waitFor(e => e.event === 'registered' && e.nodeId === node.nodeId, 'seed registration')

    const registry = new NodeRegistry({ redis: client, prefix })
    const state = async (want: string[]): Promise<string | undefined> => {
      const r = await registry.get(node.nodeId)
      return r !== undefined && want.includes(r.state) ? r.state : undefined
    }
    await eventually('node online', async () => await state(['online']))

    await stopNode(node)
    // Grace 0: offline and lost in the same evaluation.
    await eventually('node lost', async () => await state(['lost']))
    const lost = await registry.get(node.nodeId)
    assert.ok(lost !== undefined)
    assert.ok(lost.missed >= 2, `missed ${lost.missed}`)
    assert.ok(lost.offlineSince !== undefined && lost.lostSince !== undefined)
    assert.match(lost.lastError ?? '', /^BATCHAIN_ERR_/)
    await worker.waitFor(e => e.event === 'completed' && e.result?.nodeId === node.nodeId && e.result?.transition === 'lost', 'a ping job reporting the loss')

    await restartNode(node, { port: node.port, capacity: '64MiB' })
    await eventually('node online again', async () => await state(['online']))
    const back = await registry.get(node.nodeId)
    assert.equal(back?.missed, 0)
    assert.equal(back?.lostSince, undefined)
    await worker.waitFor(e => e.event === 'completed' && e.result?.nodeId === node.nodeId && e.result?.transition === 'returned', 'a ping job reporting the return')
    // The scheduler's own tick jobs never failed along the way.
    assert.equal(worker.events.filter(e => e.event === 'failed').length, 0, JSON.stringify(worker.events.filter(e => e.event === 'failed')))
  })

  test('the same ping enqueued twice runs once; a node never has two pings pending', async (t) => {
    if (!requireRedis(redis, t)) return
    const prefix = 'dedupe'
    const nodeId = 'e'.repeat(64)
    const registry = new NodeRegistry({ redis: client, prefix })
    await registry.register({ nodeId, piece: { host: '127.0.0.1', port: await freePort() } }) // nobody listens: a fast miss
    const policy: KeepalivePolicy = { missesToOffline: 5, graceMs: 60_000, pingTimeoutMs: 2000 }
    const producer = new JobProducer({ redis: redis.url, prefix })
    t.after(async () => { await producer.close() })
    const first = await producer.enqueuePing(nodeId, 7, policy)
    const again = await producer.enqueuePing(nodeId, 7, policy)
    const nextTick = await producer.enqueuePing(nodeId, 8, policy)
    assert.equal(first.id, pingJobId(nodeId, 7))
    assert.equal(again.id, first.id)
    assert.equal(nextTick.id, first.id, 'a later tick is not queued while the node\'s ping is pending')
    const queue = producer.queue('keepalive')
    assert.equal((await queue.getJobCounts('waiting')).waiting, 1)

    const completed: WorkerEvent[] = []
    const workers = await startWorkers({ redis: redis.url, prefix, queues: ['keepalive'], onEvent: e => { if (e.event === 'completed') completed.push(e) } })
    t.after(async () => { await workers.close() })
    await eventually('ping processed', async () => completed.length >= 1 ? true : undefined)
    // Once finished, the same node and tick is still not run again (the id is kept); the next tick is.
    await producer.enqueuePing(nodeId, 7, policy)
    const later = await producer.enqueuePing(nodeId, 9, policy)
    assert.equal(later.id, pingJobId(nodeId, 9))
    await eventually('second tick processed', async () => completed.length >= 2 ? true : undefined)
    await workers.close()
    assert.deepEqual(completed.map(e => e.jobId), [pingJobId(nodeId, 7), pingJobId(nodeId, 9)])
    assert.equal((await registry.get(nodeId))?.missed, 2, 'each ping counted exactly once')
  })

  test('unknown and malformed payloads fail at once with a clear error, and the worker keeps serving', async (t) => {
    if (!requireRedis(redis, t)) return
    const prefix = 'bad'
    const queue = new Queue('keepalive', { connection: bullConnection({ url: redis.url, role: 'producer' }), prefix })
    t.after(async () => { await queue.close() })
    const policy = { missesToOffline: 1, graceMs: 0, pingTimeoutMs: 1000 }
    // Straight into Redis, past our producer's validation, as a buggy or hostile client would.
    const unknown = await queue.add('format-disk', { all: true }, { attempts: 5 })
    const malformed = await queue.add('ping', { nodeId: '../../etc', tick: -1, policy }, { attempts: 5 })
    const notObject = await queue.add('ping', 'just a string', { attempts: 5 })
    const good = await queue.add('ping', { nodeId: 'f'.repeat(64), tick: 1, policy }, { attempts: 5 })

    const worker = await spawnJsonCli('worker-bad', ['worker', '--redis', redis.url, '--prefix', prefix, '--queues', 'keepalive'])
    processes.push(worker)
    for (const job of [unknown, malformed, notObject]) {
      const failed = await worker.waitFor(e => e.event === 'failed' && e.jobId === job.id, `failure of job ${job.id}`)
      assert.equal(failed.code, 'BATCHAIN_ERR_JOB_PAYLOAD')
      assert.equal(failed.final, true)
      assert.equal(failed.attemptsMade, 1, 'not retried')
    }
    const done = await worker.waitFor(e => e.event === 'completed' && e.jobId === good.id, 'the good job')
    assert.equal(done.result.skipped, 'not-registered')
    const stored = await queue.getJob(unknown.id!)
    assert.match(stored?.failedReason ?? '', /^BATCHAIN_ERR_JOB_PAYLOAD: Unknown job "format-disk" on queue keepalive/)
    assert.match((await queue.getJob(malformed.id!))?.failedReason ?? '', /Malformed keepalive\/ping job: nodeId: .*tick: /)
    assert.equal(await queue.getJobState(unknown.id!), 'failed')
    assert.equal(worker.proc.exitCode, null, 'the worker is still running')
  })

  test('a worker refuses queues it cannot serve (audit, repair and upload need a network), so their jobs wait for one that can', async (t) => {
    if (!requireRedis(redis, t)) return
    for (const queues of ['audit', 'repair', 'upload', 'keepalive,audit']) {
      const res = await runCli(['worker', '--redis', redis.url, '--prefix', 'noproc', '--queues', queues, '--json'], { timeoutMs: 30_000, env: { BATCHAIN_NODES: '', BATCHAIN_BOOTSTRAP: '', BATCHAIN_TESTNET_DIR: '' } })
      assert.equal(res.code, 1, queues)
      assert.equal(res.json?.error?.code, 'BATCHAIN_ERR_INVALID_ARGUMENT')
      assert.match(res.stderr, /need a network to find pieces/)
    }
    const bad = await runCli(['worker', '--redis', 'http://x', '--json'], { timeoutMs: 30_000 })
    assert.equal(bad.json?.error?.code, 'BATCHAIN_ERR_INVALID_ARGUMENT')
  })
})

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server, type Socket } from 'node:net'
import type { Redis } from 'ioredis'
import { JobProducer, NodeRegistry, closeRedis, createRedis, pingJobId, type KeepalivePolicy } from '../../src/jobs/index.js'
import { eventually } from '../helpers/eventually.js'
import { spawnJsonCli, type JsonProcess } from '../helpers/jobs.js'
import { freePort } from '../helpers/ports.js'
import { requireRedis, startRedis, type RedisServer } from '../helpers/redis.js'

/**
 * What the durability loop must survive: a worker killed mid-job, Redis restarted (AOF) under
 * running workers and producers, and two schedulers at once. Real redis-server, real processes.
 */
describe('jobs: stalled recovery, Redis restarts, one scheduler leader', () => {
  let redis: RedisServer | undefined
  let client: Redis
  const processes: JsonProcess[] = []
  const spawnCli = async (name: string, args: string[]): Promise<JsonProcess> => {
    const p = await spawnJsonCli(name, args)
    processes.push(p)
    return p
  }

  before(async () => {
    redis = await startRedis()
    if (redis !== undefined) {
      client = createRedis({ url: redis.url, role: 'client' })
      client.on('error', () => {}) // expected while the tests restart Redis
    }
  })

  after(async () => {
    await Promise.all(processes.map(async p => await p.stop('SIGKILL')))
    if (client !== undefined) await closeRedis(client)
    await redis?.close()
  })

  test('a worker killed in the middle of a job: the job runs again on another worker', async (t) => {
    if (!requireRedis(redis, t)) return
    const prefix = 'stall'
    // A "node" that accepts connections and never answers: a ping to it hangs until its deadline,
    // so the job is surely in flight when its worker is killed. Later it hangs up at once.
    let mode: 'hang' | 'reset' = 'hang'
    const sockets = new Set<Socket>()
    const server: Server = createServer(socket => {
      if (mode === 'reset') { socket.destroy(); return }
      sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => sockets.delete(socket))
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    t.after(async () => { for (const s of sockets) s.destroy(); await new Promise(resolve => server.close(resolve)) })
    const port = (server.address() as { port: number }).port
    const nodeId = '1'.repeat(64)
    const registry = new NodeRegistry({ redis: client, prefix })
    await registry.register({ nodeId, piece: { host: '127.0.0.1', port } })

    const stallArgs = ['--lock-duration', '1500', '--stalled-interval', '500', '--concurrency', '1']
    const a = await spawnCli('worker-a', ['worker', '--redis', redis.url, '--prefix', prefix, '--queues', 'keepalive', '--name', 'worker-a', ...stallArgs])
    const producer = new JobProducer({ redis: redis.url, prefix })
    t.after(async () => { await producer.close() })
    const policy: KeepalivePolicy = { missesToOffline: 3, graceMs: 60_000, pingTimeoutMs: 120_000 }
    const { id } = await producer.enqueuePing(nodeId, 1, policy)
    const queue = producer.queue('keepalive')
    await eventually('worker A holds the job and is pinging', async () => sockets.size > 0 && await queue.getJobState(id) === 'active' ? true : undefined)
    assert.equal((await queue.getJob(id))?.processedBy, 'worker-a')

    assert.equal(await a.stop('SIGKILL'), null)
    mode = 'reset'
    for (const s of sockets) s.destroy()
    const b = await spawnCli('worker-b', ['worker', '--redis', redis.url, '--prefix', prefix, '--queues', 'keepalive', '--name', 'worker-b', ...stallArgs])
    const done = await b.waitFor(e => e.event === 'completed' && e.jobId === id, 'the recovered job completing on worker B')
    assert.equal(done.result.ok, false)
    const job = await queue.getJob(id)
    assert.equal(job?.processedBy, 'worker-b')
    assert.equal(await queue.getJobState(id), 'completed')
    assert.ok((job?.attemptsStarted ?? 0) >= 2, `attemptsStarted ${job?.attemptsStarted}`)
    // Worker A was killed before it recorded anything: the miss is counted once, by B.
    assert.equal((await registry.get(nodeId))?.missed, 1)
  })

  test('Redis restarted (AOF): queued jobs survive, workers and producers reconnect', async (t) => {
    if (!requireRedis(redis, t)) return
    const prefix = 'restart'
    const registry = new NodeRegistry({ redis: client, prefix })
    const policy: KeepalivePolicy = { missesToOffline: 3, graceMs: 60_000, pingTimeoutMs: 2000 }
    const deadPort = await freePort()
    const ids = ['2', '3', '4'].map(c => c.repeat(64))
    for (const nodeId of ids) await registry.register({ nodeId, piece: { host: '127.0.0.1', port: deadPort } })
    const producer = new JobProducer({ redis: redis.url, prefix })
    t.after(async () => { await producer.close() })
    for (const nodeId of ids) await producer.enqueuePing(nodeId, 1, policy)
    assert.equal((await producer.queue('keepalive').getJobCounts('waiting')).waiting, 3)

    // A crash, not a clean shutdown: only the AOF (fsync always) brings the jobs back.
    await redis.stop('SIGKILL')
    await redis.start()
    // The producer's connection has no offline queue: read once it has reconnected.
    const waiting = await eventually('the producer reconnected', async () => (await producer.queue('keepalive').getJobCounts('waiting')).waiting)
    assert.equal(waiting, 3, 'queued jobs survived the restart')

    const worker = await spawnCli('worker-restart', ['worker', '--redis', redis.url, '--prefix', prefix, '--queues', 'keepalive'])
    for (const nodeId of ids) await worker.waitFor(e => e.event === 'completed' && e.jobId === pingJobId(nodeId, 1), `ping of ${nodeId.slice(0, 4)}`)

    // Again, with the worker and the producer running.
    await redis.stop('SIGKILL')
    await redis.start()
    const after = await producer.enqueuePing(ids[0]!, 2, policy) // retried by the producer until Redis is back
    await worker.waitFor(e => e.event === 'completed' && e.jobId === after.id, 'a job added after the restart')
    for (const nodeId of ids.slice(1)) {
      const r = await producer.enqueuePing(nodeId, 2, policy)
      await worker.waitFor(e => e.event === 'completed' && e.jobId === r.id, 'later jobs')
    }
    assert.equal(worker.proc.exitCode, null, 'the worker rode out both restarts')
    assert.equal((await registry.get(ids[0]!))?.missed, 2)
  })

  test('two schedulers: only the leader upserts the schedules; the standby takes over when the leader dies', async (t) => {
    if (!requireRedis(redis, t)) return
    const prefix = 'leader'
    const args = ['scheduler', '--redis', redis.url, '--prefix', prefix, '--keepalive-every', '2', '--lock-ttl', '1500']
    const [one, two] = await Promise.all([spawnCli('scheduler-1', args), spawnCli('scheduler-2', args)])
    const both = [one!, two!]
    const leaderEvent = await Promise.any(both.map(async p => { await p.waitFor(e => e.event === 'scheduled', 'schedule'); return p }))
    const leader = leaderEvent
    const standby = both.find(p => p !== leader)!
    await standby.waitFor(e => e.event === 'standby', 'standby event')
    assert.equal(standby.events.filter(e => e.event === 'leader' || e.event === 'scheduled').length, 0, 'the standby never leads nor upserts while the leader lives')
    const leaderToken = leader.events.find(e => e.event === 'leader')?.token
    assert.equal(await client.get(`${prefix}:leader:schedulers`), leaderToken)

    const producer = new JobProducer({ redis: redis.url, prefix })
    t.after(async () => { await producer.close() })
    const schedulers = await producer.queue('keepalive').getJobSchedulers()
    assert.deepEqual(schedulers.map(s => s.key), ['keepalive-tick'])

    await leader.stop('SIGKILL')
    const elected = await standby.waitFor(e => e.event === 'leader', 'takeover')
    await standby.waitFor(e => e.event === 'scheduled', 'schedule by the new leader')
    assert.equal(await client.get(`${prefix}:leader:schedulers`), elected.token)
    assert.equal((await producer.queue('keepalive').getJobSchedulers()).length, 1, 'still one schedule')
    const order = standby.events.map(e => e.event).filter(e => e !== 'ready')
    assert.deepEqual(order.slice(0, 3), ['standby', 'leader', 'scheduled'])

    // A clean stop releases the lock at once (no ttl to wait for).
    assert.equal(await standby.stop('SIGTERM'), 0)
    assert.equal(await client.get(`${prefix}:leader:schedulers`), null)
  })
})

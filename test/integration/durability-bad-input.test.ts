import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import { MiB } from '../../src/core/constants.js'
import { generateIdentity } from '../../src/crypto/keys.js'
import { FileRegistry, NodeRegistry, bullConnection, closeRedis, createRedis, reputationScore } from '../../src/jobs/index.js'
import { createMemoryStore, type PieceStore } from '../../src/store/index.js'
import { createPieceServer, type PieceServer } from '../../src/transfer/index.js'
import { runCli } from '../helpers/cli.js'
import { writeRandomFile } from '../helpers/files.js'
import { eventually } from '../helpers/eventually.js'
import { spawnJsonCli, type JsonProcess } from '../helpers/jobs.js'
import { spawnNodes, stopNodes, type NodeProcess } from '../helpers/nodes.js'
import { requireRedis, startRedis, type RedisServer } from '../helpers/redis.js'
import { tempDir, type TempDir } from '../helpers/tmp.js'

/**
 * Bad input to the durability loop: jobs nobody should have queued, a read capability handed to a
 * worker, and a storage node that answers audits with garbage. Each must fail clearly, count
 * against the one node at fault only, and leave the worker serving everything else.
 *
 * The lying node is a real piece server (our transfer layer, in this process) whose store answers
 * every audit with random leaf bytes; puts and gets are honest, so uploads place pieces on it.
 */
describe('durability: bad input', () => {
  let redis: RedisServer | undefined
  let tmp: TempDir
  let client: Redis
  let nodes: NodeProcess[] = []
  let liar: PieceServer | undefined
  const liarIdentity = generateIdentity()
  const processes: JsonProcess[] = []
  let worker: JsonProcess
  let capability = ''
  let verify = ''
  let manifestId = ''
  let contactList = ''
  let audit: Queue

  before(async () => {
    tmp = await tempDir('durability-bad')
    redis = await startRedis()
    if (redis === undefined) return
    client = createRedis({ url: redis.url, role: 'client' })
    client.on('error', () => {})
    nodes = await spawnNodes(5, join(tmp.dir, 'nodes'), { capacity: '64MiB' })
    const honest = createMemoryStore({ capacity: 64 * MiB })
    const lying: PieceStore = Object.assign(Object.create(honest) as PieceStore, {
      audit: async (...args: Parameters<PieceStore['audit']>) => {
        const proof = await honest.audit(...args)
        return { ...proof, leaves: proof.leaves.map(l => randomBytes(l.length)) }
      }
    })
    liar = createPieceServer({ store: lying, identity: liarIdentity })
    await liar.start()
    const at = liar.address()
    contactList = [...nodes.map(n => n.contact), `${at.host}:${at.port}`].join(',')
    const source = join(tmp.dir, 'source.bin')
    await writeRandomFile(source, 2 * MiB + 777)
    const up = await runCli(['upload', source, '--nodes', contactList, '--segment-size', '1MiB', '--redis', redis.url, '--json'], { env: { BATCHAIN_HOME: join(tmp.dir, 'home') } })
    assert.equal(up.code, 0, up.stderr)
    capability = up.json.capability
    manifestId = up.json.manifestId
    verify = `batchain:v1:${manifestId}`
    worker = await spawnJsonCli('worker', ['worker', '--redis', redis.url, '--nodes', contactList, '--queues', 'audit,repair'])
    processes.push(worker)
    audit = new Queue('audit', { connection: bullConnection({ url: redis.url, role: 'client' }), prefix: 'batchain' })
  })

  after(async () => {
    await audit?.close()
    await Promise.all(processes.map(async p => await p.stop()))
    await stopNodes(nodes)
    await liar?.stop()
    if (client !== undefined) await closeRedis(client)
    await redis?.close()
    await tmp?.[Symbol.asyncDispose]()
  })

  test('unknown job names and malformed payloads fail at once, unrecoverably, naming the problem; the worker goes on', async (t) => {
    if (!requireRedis(redis, t)) return
    const unknown = await audit.add('frobnicate', { capability: verify })
    const malformed = await audit.add('audit-file', { capability: 42, tick: -1, extra: true })
    for (const [job, text] of [[unknown, 'Unknown job "frobnicate" on queue audit'], [malformed, 'Malformed audit/audit-file job']] as const) {
      const failed = await worker.waitFor(e => e.event === 'failed' && e.jobId === job.id, `failure of ${String(job.id)}`)
      assert.equal(failed.final, true, 'no retry can fix a payload')
      assert.equal(failed.code, 'BATCHAIN_ERR_JOB_PAYLOAD')
      assert.match(failed.reason as string, new RegExp(text.replace(/[/()]/g, '\\$&')))
      assert.equal(failed.attemptsMade, 1)
    }
    // The worker still serves a good job.
    const good = await audit.add('audit-file', { capability: verify, tick: 1 })
    await worker.waitFor(e => e.event === 'completed' && e.jobId === good.id, 'a good audit after the bad jobs')
  })

  test('a read capability handed to a worker is refused without the key reaching its output', async (t) => {
    if (!requireRedis(redis, t)) return
    const key = capability.split(':')[3] as string
    const job = await audit.add('audit-file', { capability, tick: 2 })
    const failed = await worker.waitFor(e => e.event === 'failed' && e.jobId === job.id, 'refusal of the read capability')
    assert.equal(failed.final, true)
    assert.equal(failed.code, 'BATCHAIN_ERR_JOB_PAYLOAD')
    assert.match(failed.reason as string, /must be a verify capability/)
    assert.equal(JSON.stringify(worker.events).includes(key), false, 'the key is not in any worker event')
    assert.equal(worker.stderr().includes(key), false, 'the key is not in the worker log')
    const stored = await audit.getJob(job.id as string)
    assert.equal(stored?.failedReason.includes(key), false, 'the key is not in the recorded failure')
    await audit.remove(job.id as string) // the payload itself held it: do not keep it around
  })

  test('a node answering audits with garbage fails its challenges and loses reputation; honest nodes do not', async (t) => {
    if (!requireRedis(redis as RedisServer | undefined, t)) return
    const url = (redis as RedisServer).url
    const registry = new NodeRegistry({ redis: client })
    const files = new FileRegistry({ redis: client })
    const liarBefore = (await registry.list()).find(n => n.piece.port === liar?.address().port)?.auditFailures ?? 0
    const queued = await runCli(['audit', verify, '--nodes', contactList, '--redis', url, '--sample', '6', '--json'])
    assert.equal(queued.code, 0, queued.stderr)
    const record = await eventually('the audit recorded', async () => {
      const r = await files.get(manifestId)
      return r?.lastAudit !== undefined && r.lastAudit.challenged === 18 ? r : undefined
    }, { attempts: 120, everyMs: 250 })
    const liarId = (await registry.list()).find(n => n.piece.port === liar?.address().port)?.nodeId
    assert.ok(liarId !== undefined, 'the lying node was registered from the audit')
    assert.deepEqual(record.lastAudit?.failedNodes, [liarId], 'only the lying node failed')
    assert.equal(record.lastAudit?.failed, 3, 'its piece of each of the 3 segments failed')
    assert.equal(record.lastAudit?.ok, 15)
    const liarRecord = await registry.get(liarId)
    assert.ok(liarRecord !== undefined && reputationScore(liarRecord) < 0.6, `the liar is no longer trusted (score ${liarRecord === undefined ? '-' : reputationScore(liarRecord)})`)
    assert.equal(liarRecord?.auditFailures, liarBefore + 3, 'this audit added 3 failures (earlier sampled audits may have added some)')
    for (const n of nodes) {
      const r = await registry.get(n.nodeId)
      assert.ok(r !== undefined)
      assert.equal(r.auditFailures, 0, `honest node ${n.name} has no failure`)
      assert.equal(reputationScore(r), 1)
    }
    // Its pieces now count as bad: the check queues repairs, which need another node (none is
    // left in this 6-node network), so they fail and are retried while the file stays readable.
    const status = await runCli(['status', verify, '--nodes', contactList, '--redis', url, '--json'])
    assert.equal(status.code, 3, 'status exits 3 for a degraded file')
    assert.equal(status.json.healthy, false)
    for (const seg of status.json.segments as Array<{ good: number, pieces: Array<{ nodeId: string, state: string }> }>) {
      assert.equal(seg.good, 5)
      assert.equal(seg.pieces.find(p => p.nodeId === liarId)?.state, 'bad')
    }
    const down = await runCli(['download', capability, '-o', join(tmp.dir, 'out.bin'), '--nodes', contactList, '--json'], { env: { BATCHAIN_HOME: join(tmp.dir, 'home') } })
    assert.equal(down.code, 0, down.stderr)
  })
})

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Queue, QueueEvents } from 'bullmq'
import { MiB } from '../../src/core/constants.js'
import { generateSealKeys, openSealed } from '../../src/crypto/sealed-box.js'
import { FileRegistry, bullConnection, closeRedis, createRedis, type UploadJobResult } from '../../src/jobs/index.js'
import { runCli } from '../helpers/cli.js'
import { sha256File } from '../helpers/files.js'
import { spawnJsonCli, type JsonProcess } from '../helpers/jobs.js'
import { contacts, spawnNodes, stopNodes, type NodeProcess } from '../helpers/nodes.js'
import { requireRedis, startRedis, type RedisServer } from '../helpers/redis.js'
import { tempDir, type TempDir } from '../helpers/tmp.js'

/**
 * The upload queue as the controller uses it, against a real worker process, Redis and 6 storage
 * nodes: files come inline or from an http URL (a server in this test, on loopback); the read
 * capability comes back only sealed to the requester's key; delete-file releases every copy.
 */
describe('jobs: uploads and deletes for the controller', () => {
  let redis: RedisServer | undefined
  let tmp: TempDir
  let nodes: NodeProcess[] = []
  let worker: JsonProcess | undefined
  let queue: Queue
  let events: QueueEvents
  let http: Server
  let httpUrl = ''
  const served = randomBytes(3 * MiB + 99)
  const keys = generateSealKeys()

  const piecesOnDisk = async (): Promise<number> => {
    let count = 0
    for (const n of nodes) {
      const root = join(n.dataDir, 'store', 'pieces')
      for (const prefix of await readdir(root).catch(() => [] as string[])) count += (await readdir(join(root, prefix))).filter(f => /^[0-9a-f]{64}$/.test(f)).length
    }
    return count
  }

  const run = async (name: 'upload-file' | 'delete-file', data: Record<string, unknown>, jobId: string): Promise<unknown> => {
    const job = await queue.add(name, data, { jobId })
    return await job.waitUntilFinished(events, 120_000)
  }

  before(async () => {
    tmp = await tempDir('jobs-upload')
    redis = await startRedis()
    if (redis === undefined) return
    nodes = await spawnNodes(6, join(tmp.dir, 'nodes'), { capacity: '128MiB' })
    http = createServer((req, res) => {
      if (req.url === '/file.bin') { res.writeHead(200, { 'content-length': served.length }); res.end(served); return }
      res.writeHead(404).end('no such file')
    })
    await new Promise<void>(resolve => http.listen(0, '127.0.0.1', resolve))
    const address = http.address()
    httpUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
    worker = await spawnJsonCli('worker', ['worker', '--redis', redis.url, '--nodes', contacts(nodes), '--queues', 'upload', '--identity', join(tmp.dir, 'worker.pem')], { BATCHAIN_HOME: join(tmp.dir, 'home') })
    queue = new Queue('upload', { connection: bullConnection({ url: redis.url, role: 'client' }), prefix: 'batchain' })
    events = new QueueEvents('upload', { connection: bullConnection({ url: redis.url, role: 'worker' }), prefix: 'batchain' })
    await events.waitUntilReady()
  })

  after(async () => {
    await events?.close()
    await queue?.close()
    await worker?.stop()
    await stopNodes(nodes)
    await new Promise<void>(resolve => { if (http !== undefined) http.close(() => { resolve() }); else resolve() })
    await redis?.close()
    await tmp?.[Symbol.asyncDispose]()
  })

  test('inline and URL sources are stored; the read capability comes back sealed to the requester only; the bytes download identical', async (t) => {
    if (!requireRedis(redis, t)) return
    const recipient = keys.publicKey.toString('base64url')
    const inline = Buffer.from('hello from a ConfigMap\n'.repeat(1000))
    for (const [source, bytes, id] of [[{ kind: 'inline', base64: inline.toString('base64') }, inline, 'up-inline'], [{ kind: 'url', url: `${httpUrl}/file.bin` }, served, 'up-url']] as const) {
      const result = await run('upload-file', { source, name: `${id}.bin`, dataShards: 4, parityShards: 2, recipient, owner: 'default/sample' }, id) as UploadJobResult
      assert.equal(result.size, bytes.length)
      assert.equal(result.sha256, createHash('sha256').update(bytes).digest('hex'))
      assert.equal(result.capability, `batchain:v1:${result.manifestId}`)
      assert.equal(JSON.stringify(result).includes('batchain:r1:'), false, 'no read capability in the clear')
      const capability = openSealed(Buffer.from(result.sealedCapability, 'base64url'), keys).toString('utf8')
      assert.match(capability, new RegExp(`^batchain:r1:${result.manifestId}:`))
      assert.throws(() => openSealed(Buffer.from(result.sealedCapability, 'base64url'), generateSealKeys()), { code: 'BATCHAIN_ERR_DECRYPTION_FAILED' })
      const out = join(tmp.dir, `${id}.out`)
      const down = await runCli(['download', capability, '-o', out, '--nodes', contacts(nodes), '--json'], { env: { BATCHAIN_HOME: join(tmp.dir, 'client-home') } })
      assert.equal(down.code, 0, down.stderr)
      assert.equal(await sha256File(out), result.sha256)
    }
    assert.equal(worker?.stderr().includes('batchain:r1:'), false, 'the read capability is not in the worker log')
  })

  test('the same job id never uploads twice', async (t) => {
    if (!requireRedis(redis, t)) return
    const before = await piecesOnDisk()
    const again = await queue.add('upload-file', { source: { kind: 'url', url: `${httpUrl}/file.bin` }, recipient: keys.publicKey.toString('base64url') }, { jobId: 'up-url' })
    assert.equal(await again.getState(), 'completed', 'the existing job, not a new one')
    assert.equal(await piecesOnDisk(), before)
  })

  test('the result outlives the job: after BullMQ drops it, the registry still has it under the job id', async (t) => {
    if (!requireRedis(redis, t)) return
    const job = await queue.getJob('up-url')
    const result = job?.returnvalue as UploadJobResult
    await job?.remove()
    assert.equal(await queue.getJob('up-url'), undefined, 'the job is gone')
    const registryRedis = createRedis({ url: (redis as RedisServer).url, role: 'client' })
    registryRedis.on('error', () => {})
    try {
      const files = new FileRegistry({ redis: registryRedis })
      assert.deepEqual(await files.uploadResult('up-url'), { ...result })
      assert.equal((await files.get(result.manifestId))?.uploadJobId, 'up-url')
      assert.equal(await files.uploadResult('never-ran'), undefined)
    } finally {
      await closeRedis(registryRedis)
    }
  })

  test('a source that cannot be fetched fails the job with the reason; the worker goes on', async (t) => {
    if (!requireRedis(redis, t)) return
    const job = await queue.add('upload-file', { source: { kind: 'url', url: `${httpUrl}/missing.bin` }, recipient: keys.publicKey.toString('base64url') }, { jobId: 'up-404', attempts: 1 })
    await assert.rejects(job.waitUntilFinished(events, 60_000), /HTTP 404/)
  })

  test('delete-file releases every piece and manifest copy the worker stored', async (t) => {
    if (!requireRedis(redis, t)) return
    const stored = await queue.getJob('up-inline')
    const manifestId = (stored?.returnvalue as UploadJobResult).manifestId
    const before = await piecesOnDisk()
    const result = await run('delete-file', { capability: `batchain:v1:${manifestId}`, owner: 'default/sample' }, `delete-${manifestId}`) as { copies: number, deleted: number, unreachable: number }
    assert.ok(result.copies >= 7, `pieces and manifest copies found (${result.copies})`)
    assert.equal(result.deleted, result.copies, 'every copy deleted (the worker owns them all)')
    assert.equal(result.unreachable, 0)
    assert.equal(await piecesOnDisk(), before - result.deleted)
    const down = await runCli(['download', 'batchain:v1:' + manifestId, '-o', join(tmp.dir, 'gone.out'), '--nodes', contacts(nodes), '--json'])
    assert.notEqual(down.code, 0)
  })
})

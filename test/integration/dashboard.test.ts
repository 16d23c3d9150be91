import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, open, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import { chromium, type Page } from 'playwright-core'
import { formatCapability, parseCapability, toVerifyCapability } from '../../src/crypto/capability.js'
import { FileRegistry, JobProducer, NodeRegistry, closeRedis, createRedis, isTrusted, processPing, type KeepalivePolicy, type NodeRecord, type SegmentHealth } from '../../src/jobs/index.js'
import { PieceClient, parseContact } from '../../src/transfer/index.js'
import { hasCommand, requirePrerequisite } from '../helpers/ci.js'
import { runCli } from '../helpers/cli.js'
import { writeRandomFile } from '../helpers/files.js'
import { eventually } from '../helpers/eventually.js'
import { spawnJsonCli, type JsonProcess } from '../helpers/jobs.js'
import { contacts, spawnNode, stopNode, type NodeProcess } from '../helpers/nodes.js'
import { freePorts } from '../helpers/ports.js'
import { requireRedis, startRedis, type RedisServer } from '../helpers/redis.js'
import { tempDir, type TempDir } from '../helpers/tmp.js'

/**
 * `batchain dashboard` end to end: a real redis-server, four real storage nodes, a file uploaded
 * with the CLI (one piece corrupted on disk, audited with the CLI), registries filled the way the
 * durability loop fills them, a job waiting on a queue; then two dashboard processes (read-only,
 * and with a token) driven over HTTP and with Debian's Chromium (playwright-core). Screenshots go
 * to $ARTIFACTS_DIR/dashboard/*.png. The Redis outage test runs last: it stops Redis.
 */
const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SHOTS = join(process.env.ARTIFACTS_DIR ?? join(ROOT, 'artifacts', 'test'), 'dashboard')
const PREFIX = 'dash'
const TOKEN = 'dashboard-test-token-0123456789'
const LABEL = '<img src=x onerror=alert(1)> report "Q3".pdf'
const K = 2
const M = 2

interface Audited { segment: number, shard: number, pieceId: string, nodeId: string | null, state: 'ok' | 'failed' | 'missing' | 'unreachable' }

describe('dashboard: pages, JSON API, bull-board, auth, metrics, Redis outage', () => {
  let redis: RedisServer | undefined
  let tmp: TempDir
  let client: Redis
  let nodes: NodeRegistry
  let files: FileRegistry
  const storage: NodeProcess[] = []
  const processes: JsonProcess[] = []
  let readOnly: JsonProcess
  let withToken: JsonProcess
  let manifestId = ''
  let segments = 0
  /** Expected keepalive state per node id. */
  const expected = new Map<string, NodeRecord['state']>()
  let corrupted: Audited
  let untrustedNode = ''
  let lostNode = ''
  let waitingJobId = ''

  const urlOf = (p: JsonProcess): string => p.events.find(e => e.event === 'ready')?.url as string

  before(async () => {
    tmp = await tempDir('dashboard')
    redis = await startRedis()
    if (redis === undefined) return
    client = createRedis({ url: redis.url, role: 'client' })
    client.on('error', () => {})
    nodes = new NodeRegistry({ redis: client, prefix: PREFIX })
    files = new FileRegistry({ redis: client, prefix: PREFIX })

    // Four storage nodes in two zones; a file of 5 segments × (2+2) pieces, one piece per node per segment.
    for (let i = 0; i < 4; i++) storage.push(await spawnNode(`dash-node-${i}`, join(tmp.dir, `node-${i}`), { capacity: '64MiB', zone: i < 2 ? 'rack-a' : 'rack-b' }))
    const source = join(tmp.dir, 'report.bin')
    await writeRandomFile(source, 300_000)
    const env = { BATCHAIN_HOME: join(tmp.dir, 'home') }
    const up = await runCli(['upload', source, '--nodes', contacts(storage), '--data-shards', String(K), '--parity-shards', String(M), '--segment-size', '64KiB', '--json'], { env })
    assert.equal(up.code, 0, up.stderr)
    manifestId = up.json.manifestId
    segments = up.json.segments
    assert.equal(segments, 5)
    const verify = formatCapability(toVerifyCapability(parseCapability(up.json.capability)))

    // Corrupt one stored piece (segment 1, shard 0) on disk; an audit of every leaf catches it.
    const first = await runCli(['audit', verify, '--now', '--nodes', contacts(storage), '--leaves', '64', '--json'], { env })
    assert.equal(first.code, 0, first.stderr)
    const target = (first.json.pieces as Audited[]).find(p => p.segment === 1 && p.shard === 0)
    const victim = storage.find(n => n.nodeId === target?.nodeId)
    assert.ok(target !== undefined && victim !== undefined)
    await flipByte(join(victim.dataDir, 'store', 'pieces', target.pieceId.slice(0, 2), target.pieceId))
    const audit = await runCli(['audit', verify, '--now', '--nodes', contacts(storage), '--leaves', '64', '--json'], { env })
    assert.equal(audit.code, 3, 'the audit reports the corrupted piece')
    const audited = audit.json.pieces as Audited[]
    corrupted = audited.find(p => p.state === 'failed') as Audited
    assert.equal(corrupted?.pieceId, target.pieceId)
    untrustedNode = victim.nodeId

    // The node registry: facts from STAT (one real node's capacity left unknown), pings for state.
    const pieceClient = new PieceClient({ maxIdlePerPeer: 0 })
    try {
      for (const [i, n] of storage.entries()) {
        const s = await pieceClient.stat(parseContact(n.contact))
        await nodes.register({ nodeId: n.nodeId, piece: { host: n.host, port: n.port }, zone: i < 2 ? 'rack-a' : 'rack-b', ...(i === 3 ? {} : { capacity: s.capacity, free: s.free }) })
      }
      const online: KeepalivePolicy = { missesToOffline: 1, graceMs: 3_600_000, pingTimeoutMs: 5000 }
      for (const n of storage) await processPing({ nodeId: n.nodeId, tick: 1, policy: online }, { registry: nodes, client: pieceClient })
      // One holder that is not the corrupted one goes away and is lost (grace 0).
      const gone = storage.find(n => n.nodeId !== untrustedNode) as NodeProcess
      lostNode = gone.nodeId
      await stopNode(gone)
      await processPing({ nodeId: gone.nodeId, tick: 2, policy: { ...online, missesToOffline: 1, graceMs: 0 } }, { registry: nodes, client: pieceClient })
      // Two nodes nobody runs: one offline (within its grace), one registered but never pinged.
      const [offlinePort, unknownPort] = await freePorts(2)
      const offlineId = 'e'.repeat(64)
      const unknownId = 'f'.repeat(64)
      await nodes.register({ nodeId: offlineId, piece: { host: '127.0.0.1', port: offlinePort as number }, capacity: 1 << 30, free: 1 << 29 })
      await processPing({ nodeId: offlineId, tick: 1, policy: { ...online, pingTimeoutMs: 1000 } }, { registry: nodes, client: pieceClient })
      await nodes.register({ nodeId: unknownId, piece: { host: '127.0.0.1', port: unknownPort as number } })
      for (const n of storage) expected.set(n.nodeId, n.nodeId === lostNode ? 'lost' : 'online')
      expected.set(offlineId, 'offline')
      expected.set(unknownId, 'unknown')
    } finally {
      pieceClient.close()
    }

    // Reputation: one outcome per node for this audit (all its challenges passed, or not).
    for (const n of storage) await nodes.recordAudit(n.nodeId, !audited.some(p => p.nodeId === n.nodeId && p.state === 'failed'))
    const byId = new Map((await nodes.list()).map(r => [r.nodeId, r]))
    assert.equal(isTrusted(byId.get(untrustedNode) as NodeRecord), false, 'one failed audit makes a new node untrusted')

    // The file registry: facts, the audit, a health check derived from it, one repair.
    await files.register({ manifestId, capability: verify, label: LABEL, owner: 'integration-test', dataShards: K, parityShards: M, segments, storedBytes: up.json.bytesStored, createdAt: new Date().toISOString() })
    await files.recordAudit(manifestId, { at: Date.now(), challenges: audited.filter(p => p.state !== 'unreachable').map(p => ({ pieceId: p.pieceId, nodeId: p.nodeId, state: p.state as 'ok' | 'failed' | 'missing' })) })
    const { health, holders } = healthFrom(audited, byId, segments)
    await files.recordHealth(manifestId, health, holders)
    await files.recordRepair(manifestId, { at: Date.now(), segment: 3, rebuilt: 1, bytes: 32_768, goodBefore: 1, goodAfter: 2, seconds: 0.42 })

    // A job waiting on a queue (no worker runs in this test).
    const producer = new JobProducer({ redis: redis.url, prefix: PREFIX })
    try {
      waitingJobId = (await producer.enqueueRepairCheck(verify, manifestId)).id
    } finally {
      await producer.close()
    }

    readOnly = await spawnJsonCli('dashboard-ro', ['dashboard', '--redis', redis.url, '--prefix', PREFIX, '--port', '0', '--refresh', '0'], { BATCHAIN_DASHBOARD_TOKEN: '' })
    processes.push(readOnly)
    withToken = await spawnJsonCli('dashboard-rw', ['dashboard', '--redis', redis.url, '--prefix', PREFIX, '--port', '0', '--refresh', '0'], { BATCHAIN_DASHBOARD_TOKEN: TOKEN })
    processes.push(withToken)
  })

  after(async () => {
    for (const p of processes) {
      const code = await p.stop('SIGTERM')
      assert.equal(code, 0, `${p.name} stops cleanly on SIGTERM: ${p.stderr()}`)
      assert.ok(p.events.some(e => e.event === 'stopped'), `${p.name} says it stopped`)
    }
    await Promise.all(storage.map(async n => await stopNode(n)))
    if (client !== undefined) await closeRedis(client)
    await redis?.close()
    await tmp?.[Symbol.asyncDispose]()
  })

  test('the ready line gives the URL; without a token the dashboard is read-only', async (t) => {
    if (!requireRedis(redis, t)) return
    const ready = readOnly.events.find(e => e.event === 'ready')
    assert.match(ready?.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.equal(ready?.readOnly, true)
    assert.equal(withToken.events.find(e => e.event === 'ready')?.readOnly, false)
  })

  test('the JSON API matches the registries', async (t) => {
    if (!requireRedis(redis, t)) return
    const url = urlOf(readOnly)
    const api = await getJson(`${url}/api/nodes`)
    assert.equal(api.status, 200)
    const registered = await nodes.list()
    assert.deepEqual(api.body.nodes.map((n: NodeRecord) => n.nodeId).sort(), registered.map(r => r.nodeId).sort())
    for (const n of api.body.nodes) {
      assert.equal(n.state, expected.get(n.nodeId), `state of ${n.nodeId}`)
      const r = registered.find(x => x.nodeId === n.nodeId) as NodeRecord
      assert.equal(n.capacity, r.capacity)
      assert.equal(n.free, r.free)
      assert.equal(n.zone, r.zone)
      assert.equal(n.rttMs, r.rttMs)
    }
    const held = (await files.get(manifestId))?.health?.nodes ?? {}
    for (const s of storage) assert.equal(api.body.nodes.find((n: NodeRecord) => n.nodeId === s.nodeId).pieces, held[s.nodeId], 'pieces held from the health check')
    assert.equal(api.body.nodes.find((n: NodeRecord) => n.nodeId === untrustedNode).trusted, false)
    assert.equal(api.body.threshold, 0.6)

    const record = await files.get(manifestId)
    assert.ok(record?.health !== undefined)
    const list = await getJson(`${url}/api/files`)
    assert.equal(list.body.files.length, 1)
    assert.equal(list.body.files[0].name, LABEL)
    assert.equal(list.body.files[0].health.minGood, record.health.minGood)
    const one = await getJson(`${url}/api/files/${manifestId}`)
    assert.equal(one.status, 200)
    assert.deepEqual(one.body.file.segmentHealth.map((s: { states: string }) => s.states), record.health.states)
    assert.deepEqual(one.body.file.lastAudit.failedNodes, record.lastAudit?.failedNodes)
    assert.equal(one.body.file.repairs.count, 1)
    assert.equal(one.body.file.recentRepairs[0].segment, 3)

    const summary = await getJson(`${url}/api/summary`)
    assert.deepEqual(summary.body.nodes.byState, { online: 3, offline: 1, lost: 1, unknown: 1 })
    assert.equal(summary.body.files.total, 1)
    assert.equal(summary.body.files.segmentsDegraded, record.health.degraded)
    assert.ok(summary.body.queues.repair.waiting + summary.body.queues.repair.prioritized >= 1, JSON.stringify(summary.body.queues))
  })

  test('malformed and unknown manifest ids are 404 with a JSON error, before Redis is asked', async (t) => {
    if (!requireRedis(redis, t)) return
    const url = urlOf(readOnly)
    for (const id of ['xyz', manifestId.toUpperCase(), `${manifestId}0`, '..%2F..%2Fetc%2Fpasswd', '%00', 'a'.repeat(64)]) {
      const res = await getJson(`${url}/api/files/${id}`)
      assert.equal(res.status, 404, id)
      assert.equal(res.body.error.code, 'BATCHAIN_ERR_NOT_FOUND', id)
    }
    const page = await fetch(`${url}/files/not-an-id`, { headers: { accept: 'text/html' } })
    assert.equal(page.status, 404)
    assert.match(await page.text(), /64 lowercase hex/)
    // Nothing was created for any of them.
    assert.deepEqual(await files.ids(), [manifestId])
  })

  test('read-only without a token: actions answer 403, bull-board is read-only', async (t) => {
    if (!requireRedis(redis, t)) return
    const url = urlOf(readOnly)
    const audit = await fetch(`${url}/api/files/${manifestId}/audit`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })
    assert.equal(audit.status, 403)
    assert.equal((await jsonOf(audit)).error.code, 'BATCHAIN_ERR_READ_ONLY')
    const pause = await fetch(`${url}/jobs/api/queues/repair/pause`, { method: 'PUT' })
    assert.equal(pause.status, 403)
    assert.match((await jsonOf(pause)).error.message, /read-only/)
    const login = await fetch(`${url}/login`, { method: 'POST', body: new URLSearchParams({ token: TOKEN }), redirect: 'manual' })
    assert.equal(login.status, 403)
    const board = await getJson(`${url}/jobs/api/queues?activeQueue=repair&status=latest&page=1&jobsPerPage=10`)
    assert.equal(board.status, 200)
    assert.deepEqual(board.body.queues.map((q: { name: string }) => q.name).sort(), ['audit', 'keepalive', 'repair', 'upload'])
    for (const q of board.body.queues) assert.equal(q.readOnlyMode, true, q.name)
    const repair = board.body.queues.find((q: { name: string }) => q.name === 'repair')
    assert.ok(repair.jobs.some((j: { id: string }) => j.id === waitingJobId), 'the waiting repair-check job is listed')
    const queue = new Queue('repair', { connection: client, prefix: PREFIX })
    t.after(async () => { await queue.close() })
    assert.equal(await queue.isPaused(), false)
  })

  test('with a token: a wrong or missing token is refused; the right one queues an audit; the login cookie works from our pages only', async (t) => {
    if (!requireRedis(redis, t)) return
    const url = urlOf(withToken)
    const auditUrl = `${url}/api/files/${manifestId}/audit`
    const none = await fetch(auditUrl, { method: 'POST' })
    assert.equal(none.status, 401)
    assert.equal((await jsonOf(none)).error.code, 'BATCHAIN_ERR_UNAUTHORIZED')
    const wrong = await fetch(auditUrl, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}x` } })
    assert.equal(wrong.status, 401)
    assert.equal((await fetch(`${url}/jobs/api/queues/audit/pause`, { method: 'PUT', headers: { authorization: 'Bearer wrong-wrong-wrong-wrong' } })).status, 401)

    const queued = await fetch(auditUrl, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })
    assert.equal(queued.status, 202)
    const body = await jsonOf(queued)
    assert.equal(body.queue, 'audit')
    const queue = new Queue('audit', { connection: client, prefix: PREFIX })
    t.after(async () => { await queue.close() })
    const job = await queue.getJob(body.jobId)
    assert.equal(job?.name, 'audit-file')
    assert.equal(job?.data.capability, `batchain:v1:${manifestId}`)
    assert.equal(await job?.getState(), 'waiting')
    // A second request while it is pending is deduplicated (one pending audit per file).
    const again = await jsonOf(await fetch(auditUrl, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } }))
    assert.equal(again.jobId, body.jobId)

    // bull-board: read-write only for the token holder.
    const anonymous = await getJson(`${url}/jobs/api/queues?activeQueue=audit&status=latest&page=1&jobsPerPage=10`)
    for (const q of anonymous.body.queues) assert.equal(q.readOnlyMode, true)
    const holder = await getJson(`${url}/jobs/api/queues?activeQueue=audit&status=latest&page=1&jobsPerPage=10`, { authorization: `Bearer ${TOKEN}` })
    for (const q of holder.body.queues) assert.equal(q.readOnlyMode, false)
    assert.equal((await fetch(`${url}/jobs/api/queues/upload/pause`, { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}` } })).status, 200)
    const upload = new Queue('upload', { connection: client, prefix: PREFIX })
    t.after(async () => { await upload.close() })
    assert.equal(await upload.isPaused(), true)
    assert.equal((await fetch(`${url}/jobs/api/queues/upload/resume`, { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}` } })).status, 200)
    assert.equal(await upload.isPaused(), false)

    // The login form: a wrong token is refused; the right one sets a cookie (not the token).
    const bad = await fetch(`${url}/login`, { method: 'POST', body: new URLSearchParams({ token: 'not-the-token-at-all' }), redirect: 'manual' })
    assert.equal(bad.status, 401)
    assert.equal(bad.headers.getSetCookie().length, 0)
    const good = await fetch(`${url}/login`, { method: 'POST', body: new URLSearchParams({ token: TOKEN, next: `/files/${manifestId}` }), redirect: 'manual' })
    assert.equal(good.status, 303)
    assert.equal(good.headers.get('location'), `/files/${manifestId}`)
    const setCookie = good.headers.getSetCookie()[0] ?? ''
    assert.match(setCookie, /HttpOnly/i)
    assert.match(setCookie, /SameSite=Strict/i)
    assert.ok(!setCookie.includes(TOKEN))
    const cookie = setCookie.split(';')[0] as string
    const repairUrl = `${url}/api/files/${manifestId}/repair`
    const fromUs = await fetch(repairUrl, { method: 'POST', headers: { cookie, origin: url } })
    assert.equal(fromUs.status, 202)
    const fromElsewhere = await fetch(repairUrl, { method: 'POST', headers: { cookie, origin: 'http://evil.example' } })
    assert.equal(fromElsewhere.status, 403)
    assert.equal((await jsonOf(fromElsewhere)).error.code, 'BATCHAIN_ERR_CROSS_ORIGIN')
    // Unknown and malformed ids are 404 for actions too, and queue nothing.
    assert.equal((await fetch(`${url}/api/files/${'b'.repeat(64)}/audit`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })).status, 404)
    assert.equal((await fetch(`${url}/api/files/nope/repair`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })).status, 404)
  })

  test('/healthz answers 200 with Redis up; /metrics has process metrics and gauges read from Redis', async (t) => {
    if (!requireRedis(redis, t)) return
    const url = urlOf(readOnly)
    const health = await getJson(`${url}/healthz`)
    assert.equal(health.status, 200)
    assert.equal(health.body.status, 'ok')
    const res = await fetch(`${url}/metrics`)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/)
    const metrics = parseMetrics(await res.text())
    assert.equal(metrics.get('batchain_dashboard_redis_up'), 1)
    assert.equal(metrics.get('batchain_nodes{state="online"}'), 3)
    assert.equal(metrics.get('batchain_nodes{state="lost"}'), 1)
    assert.equal(metrics.get('batchain_nodes_untrusted'), 1)
    assert.equal(metrics.get('batchain_files{status="degraded"}'), 1)
    assert.ok((metrics.get('batchain_segments_degraded') ?? 0) >= 1)
    assert.equal(metrics.get('batchain_pieces_total'), segments * (K + M))
    assert.ok((metrics.get('batchain_pieces_good') ?? Infinity) < segments * (K + M))
    assert.equal(metrics.get('batchain_node_audit_failures'), 1)
    assert.equal(metrics.get('batchain_files_last_audit_failed'), 1)
    assert.equal(metrics.get('batchain_repairs'), 1)
    assert.ok((metrics.get('batchain_queue_jobs{queue="audit",state="waiting"}') ?? 0) >= 1, 'the audit queued by the token test')
    assert.ok(metrics.has('process_cpu_user_seconds_total'))
    assert.ok(metrics.has('nodejs_heap_size_used_bytes'))
  })

  test('in Chromium: the network, files and file pages and the jobs board render; screenshots', async (t) => {
    if (!requireRedis(redis, t)) return
    if (!requirePrerequisite('chromium', hasCommand(CHROMIUM), t, 'apt-get install chromium; scripts/test.sh installs it')) return
    await mkdir(SHOTS, { recursive: true })
    const profile = await tempDir('dashboard-chromium')
    const context = await chromium.launchPersistentContext(profile.dir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport: { width: 1400, height: 900 } })
    t.after(async () => { await context.close(); await profile[Symbol.asyncDispose]() })
    const url = urlOf(readOnly)
    const requests: string[] = []
    const problems: string[] = []
    context.on('request', r => { requests.push(r.url()) })
    const page = await context.newPage()
    page.on('dialog', d => { problems.push(`dialog: ${d.message()}`); void d.dismiss() })
    page.on('pageerror', e => { problems.push(`page error: ${e.message}`) })

    // Network: every registered node with its state.
    await page.goto(`${url}/`)
    for (const [nodeId, state] of expected) {
      const row = page.locator(`tr[data-node="${nodeId}"]`)
      assert.equal(await row.getAttribute('data-state'), state, nodeId)
      assert.equal((await row.locator('.badge').first().textContent())?.trim(), state)
      assert.equal(await row.locator('td').nth(1).getAttribute('title'), nodeId)
    }
    assert.equal(await page.locator(`tr[data-node="${'f'.repeat(64)}"] .barlabel`).first().textContent(), 'unknown', 'capacity unknown')
    assert.ok(await page.locator(`tr[data-node="${untrustedNode}"] .badge.b-untrusted`).isVisible())
    await shoot(page, 'network')

    // Files: the file, its label shown as text.
    await page.goto(`${url}/files`)
    const link = page.locator(`tr[data-file="${manifestId}"] a`)
    assert.equal(await link.textContent(), LABEL)
    assert.equal(await page.locator(`tr[data-file="${manifestId}"]`).getAttribute('data-status'), 'degraded')
    await shoot(page, 'files')

    // File: the segments × pieces grid, coloured by state.
    await link.click()
    await page.waitForURL(`${url}/files/${manifestId}`)
    assert.equal(await page.locator('#segment-grid .seg').count(), segments)
    assert.equal(await page.locator('#segment-grid i.p').count(), segments * (K + M))
    assert.equal(await page.locator(`#segment-grid i[data-piece="${corrupted.segment}:${corrupted.shard}"]`).getAttribute('data-state'), 'bad')
    assert.ok(await page.locator('#segment-grid i[data-state="lost"]').count() >= segments - 1)
    assert.ok(await page.locator('#segment-grid i[data-state="untrusted"]').count() >= 1)
    const cellColour = await page.locator('#segment-grid i[data-state="bad"]').first().evaluate(el => (globalThis as unknown as { getComputedStyle: (e: unknown) => { backgroundColor: string } }).getComputedStyle(el).backgroundColor)
    assert.equal(cellColour, 'rgb(207, 34, 46)')
    assert.ok(await page.locator('#last-audit').isVisible())
    assert.equal(await page.locator('#repairs tbody tr').count(), 1)
    await shoot(page, 'file')

    // Jobs: bull-board renders client-side; the waiting repair-check job shows up.
    await page.goto(`${url}/jobs/queue/repair`)
    await page.getByText('repair-check').first().waitFor({ timeout: 30_000 })
    await shoot(page, 'jobs')

    // The token dashboard: log in through the form, queue an audit with the page's button.
    const rw = urlOf(withToken)
    await page.goto(`${rw}/files/${manifestId}`)
    await page.getByRole('link', { name: 'Log in' }).first().click()
    await page.locator('#token').fill(TOKEN)
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.waitForURL(`${rw}/files/${manifestId}`)
    await page.locator('#repair-check').click()
    await page.getByText('Repair check queued').waitFor()
    await shoot(page, 'file-signed-in')

    assert.deepEqual(problems, [])
    const foreign = requests.filter(r => !r.startsWith(url) && !r.startsWith(rw) && !r.startsWith('data:'))
    assert.deepEqual(foreign, [], 'nothing is loaded from anywhere else')
    for (const name of ['network', 'files', 'file', 'jobs', 'file-signed-in']) {
      const png = await readFile(join(SHOTS, `${name}.png`))
      assert.ok(png.length > 1000, `${name}.png is not empty`)
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${name}.png is a PNG`)
    }
  })

  test('Redis stopped: /healthz 503 and pages 503 while the process keeps serving; Redis back: 200 again', async (t) => {
    if (!requireRedis(redis, t)) return
    const server = redis
    const url = urlOf(readOnly)
    await server.stop('SIGTERM')
    const down = await eventually('healthz 503', async () => {
      const res = await getJson(`${url}/healthz`)
      return res.status === 503 ? res : undefined
    })
    assert.equal(down.body.status, 'unavailable')
    const api = await getJson(`${url}/api/nodes`)
    assert.equal(api.status, 503)
    assert.equal(api.body.error.code, 'BATCHAIN_ERR_REDIS_UNAVAILABLE')
    const page = await fetch(`${url}/`, { headers: { accept: 'text/html' } })
    assert.equal(page.status, 503)
    assert.match(await page.text(), /Redis is unavailable/)
    const metrics = await fetch(`${url}/metrics`)
    assert.equal(metrics.status, 200)
    assert.equal(parseMetrics(await metrics.text()).get('batchain_dashboard_redis_up'), 0)
    const audit = await fetch(`${urlOf(withToken)}/api/files/${manifestId}/audit`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })
    assert.equal(audit.status, 503)
    assert.equal(readOnly.proc.exitCode, null, 'still running')
    assert.equal(withToken.proc.exitCode, null, 'still running')

    await server.start()
    await eventually('healthz 200 again', async () => (await getJson(`${url}/healthz`)).status === 200 ? true : undefined)
    const back = await eventually('the API serves again', async () => {
      const res = await getJson(`${url}/api/nodes`)
      return res.status === 200 ? res : undefined
    })
    assert.equal(back.body.nodes.length, expected.size, 'the registry survived the restart (AOF)')
  })
})

/** Per segment, one letter per shard from an audit and the holders' registry records (the health checker's rules, simplified). */
function healthFrom (audited: readonly Audited[], byId: ReadonlyMap<string, NodeRecord>, segments: number): { health: SegmentHealth[], holders: Record<string, number> } {
  const rank: Record<string, number> = { g: 4, u: 3, l: 2, b: 1, m: 0 }
  const letters = Array.from({ length: segments }, () => Array.from({ length: K + M }, () => 'm'))
  const holders: Record<string, number> = {}
  for (const p of audited) {
    const node = p.nodeId === null ? undefined : byId.get(p.nodeId)
    if (p.nodeId !== null) holders[p.nodeId] = (holders[p.nodeId] ?? 0) + 1
    const letter = p.state === 'missing' ? 'm' : p.state === 'failed' ? 'b' : p.state === 'unreachable' || node?.state === 'lost' ? 'l' : node !== undefined && !isTrusted(node) ? 'u' : 'g'
    const row = letters[p.segment] as string[]
    if ((rank[letter] ?? 0) > (rank[row[p.shard] as string] ?? 0)) row[p.shard] = letter
  }
  const health = letters.map((row, index) => ({ index, good: row.filter(l => l === 'g').length, total: K + M, states: row.join('') }))
  return { health, holders }
}

async function flipByte (path: string): Promise<void> {
  const fh = await open(path, 'r+')
  try {
    const at = Math.floor((await stat(path)).size / 2)
    const byte = Buffer.alloc(1)
    await fh.read(byte, 0, 1, at)
    byte[0] = (byte[0] as number) ^ 0xff
    await fh.write(byte, 0, 1, at)
  } finally {
    await fh.close()
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function getJson (url: string, headers: Record<string, string> = {}): Promise<{ status: number, body: any }> {
  const res = await fetch(url, { headers: { accept: 'application/json', ...headers } })
  return { status: res.status, body: await jsonOf(res) }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function jsonOf (res: Response): Promise<any> {
  return await res.json()
}

/** Prometheus text → `name{labels}` → value (comments skipped). */
function parseMetrics (text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^(\S+)\s+(\S+)$/.exec(line)
    if (match !== null) out.set(match[1] as string, Number(match[2]))
  }
  return out
}

async function shoot (page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })
}


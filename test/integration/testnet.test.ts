import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { get } from 'node:http'
import { join } from 'node:path'
import { isProcessAlive, loadTestnet, testnetBootstraps, testnetRedisUrl, type TestnetProcess } from '../../src/testnet/index.js'
import { signalProcess, waitForExit } from '../../src/testnet/liveness.js'
import { redisCommand } from '../../src/testnet/resp.js'
import { hasCommand, isCI } from '../helpers/ci.js'
import { runCli } from '../helpers/cli.js'
import { tempDir, type TempDir } from '../helpers/tmp.js'

type NodeProcess = Extract<TestnetProcess, { role: 'bootstrap' | 'storage' }>
const JOB_ROLES = ['redis', 'worker', 'scheduler', 'dashboard']
const isNode = (p: TestnetProcess): p is NodeProcess => p.role === 'bootstrap' || p.role === 'storage'

async function httpStatus (url: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    get(url, { agent: false }, res => { res.resume(); resolve(res.statusCode ?? 0) }).once('error', reject)
  })
}

/**
 * `batchain testnet up|status|down` as a user runs it: real bootstrap and storage node processes on
 * loopback, then Redis (Debian's redis-server), a worker, the scheduler and the dashboard, started
 * in the background by one CLI process and found again by the next.
 */
describe('local testnet (real node processes)', () => {
  let tmp: TempDir
  let dir: string
  /** Every process the testnet started, as recorded; all are killed in after() whatever happened. */
  let started: TestnetProcess[] = []
  /** Whether this CLI has `batchain dashboard` (another part of the codebase; required under CI=true). */
  let dashboard = false
  /** The jobs processes up starts: redis, worker, scheduler and (when there is one) the dashboard. */
  let jobNames: string[] = []

  before(async () => {
    tmp = await tempDir('testnet')
    dir = join(tmp.dir, 'net')
    dashboard = (await runCli(['dashboard', '--help'])).code === 0
    jobNames = ['redis', 'worker', 'scheduler', ...(dashboard ? ['dashboard'] : [])]
  })

  after(async () => {
    try {
      started = [...started, ...(await loadTestnet(dir)).processes]
    } catch { /* up never wrote a state */ }
    for (const p of started) {
      // A stopped (SIGSTOP) process must be continued to die of SIGTERM; SIGKILL needs nothing.
      if (isProcessAlive(p.pid, p.procStart)) signalProcess(p.pid, 'SIGKILL', { group: true })
    }
    await Promise.all(started.map(async p => await waitForExit(p.pid, p.procStart, 10_000)))
    await tmp?.[Symbol.asyncDispose]()
  })

  async function status (): Promise<{ online: number, total: number, status: string, redisUrl?: string, dashboardUrl?: string, processes: Array<TestnetProcess & { alive: boolean, online: boolean, reason?: string }> }> {
    const res = await runCli(['testnet', 'status', '--dir', dir, '--json'])
    assert.equal(res.code, 0, `status failed: ${res.stderr}`)
    assert.ok(res.json !== undefined, `status printed one JSON document: ${res.stdout}`)
    return res.json
  }

  test('up --nodes 4: 2 bootstraps + 4 storage nodes, then Redis, worker, scheduler and dashboard ready, recorded in testnet.json, bootstrap.txt and redis.url', async t => {
    if (!dashboard) {
      if (isCI()) throw new Error('prerequisite missing: `batchain dashboard` (CI=true requires the testnet to start the dashboard)')
      t.diagnostic('this CLI has no `batchain dashboard` yet: starting the testnet with --no-dashboard')
    }
    assert.ok(hasCommand('redis-server') || !isCI(), 'redis-server is installed (scripts/test.sh installs it)')
    const res = await runCli(['testnet', 'up', '--nodes', '4', '--dir', dir, '--grace', '0', '--keepalive-every', '5', ...(dashboard ? [] : ['--no-dashboard']), '--json'], { timeoutMs: 240_000 })
    if (res.code === 0) started = res.json.processes
    assert.equal(res.code, 0, `up failed: ${res.stderr}`)
    const up = res.json as { dir: string, status: string, processes: TestnetProcess[], bootstraps: string[], redisUrl: string, redisFile: string, dashboardUrl?: string }
    assert.equal(up.dir, dir)
    assert.equal(up.status, 'running')
    assert.deepEqual(up.processes.map(p => [p.name, p.role]), [
      ['bootstrap-0', 'bootstrap'], ['bootstrap-1', 'bootstrap'],
      ['node-0', 'storage'], ['node-1', 'storage'], ['node-2', 'storage'], ['node-3', 'storage'],
      ...jobNames.map(name => [name, name])
    ])
    const nodes = up.processes.filter(isNode)
    assert.equal(new Set(nodes.map(p => p.nodeId)).size, 6, 'distinct node ids')
    assert.equal(new Set(up.processes.map(p => p.pid)).size, 6 + jobNames.length, 'distinct pids')
    for (const p of up.processes) {
      assert.ok(isProcessAlive(p.pid, p.procStart), `${p.name} runs after up exited`)
      assert.equal(p.logFile, join(dir, 'logs', `${p.name}.log`))
      if (!isNode(p)) continue
      assert.match(p.nodeId, /^[0-9a-f]{64}$/)
      assert.equal(p.host, '127.0.0.1')
      assert.ok(p.dhtPort > 0)
      if (p.role === 'storage') assert.ok(p.port > 0)
      assert.equal(p.dataDir, join(dir, 'nodes', p.name))
    }
    const byName = new Map(up.processes.map(p => [p.name, p]))
    const redis = byName.get('redis')
    assert.ok(redis?.role === 'redis')
    assert.equal(redis.url, `redis://127.0.0.1:${redis.port}`)
    assert.equal(redis.dataDir, join(dir, 'redis'))
    assert.equal(up.redisUrl, redis.url)
    assert.equal(up.redisFile, join(dir, 'redis.url'))
    assert.equal(await testnetRedisUrl(dir), redis.url)
    assert.equal(await redisCommand(redis.url, ['PING']), 'PONG')
    assert.deepEqual(await redisCommand(redis.url, ['CONFIG', 'GET', 'maxmemory-policy']), ['maxmemory-policy', 'noeviction'])
    assert.deepEqual(await redisCommand(redis.url, ['CONFIG', 'GET', 'appendonly']), ['appendonly', 'yes'])
    const worker = byName.get('worker')
    assert.ok(worker?.role === 'worker' && worker.redis === redis.url && worker.queues.length > 0)
    const scheduler = byName.get('scheduler')
    assert.ok(scheduler?.role === 'scheduler' && scheduler.redis === redis.url)
    assert.equal(scheduler.grace, 0)
    assert.equal(scheduler.keepaliveEvery, 5)
    if (dashboard) {
      const d = byName.get('dashboard')
      assert.ok(d?.role === 'dashboard')
      assert.match(d.url, /^http:\/\/127\.0\.0\.1:\d+$/)
      assert.equal(up.dashboardUrl, d.url)
      assert.equal(await httpStatus(`${d.url}/healthz`), 200)
    }
    const { stateFile, bootstrapFile, bootstraps: _list, redisUrl: _redisUrl, redisFile: _redisFile, dashboardUrl: _dashboardUrl, ...state } = res.json
    assert.equal(stateFile, join(dir, 'testnet.json'))
    assert.equal(bootstrapFile, join(dir, 'bootstrap.txt'))
    assert.deepEqual(await loadTestnet(dir), state, 'testnet.json holds what up printed')
    const bootstraps = nodes.filter(p => p.role === 'bootstrap').map(p => ({ host: p.host, port: p.dhtPort }))
    assert.deepEqual(await testnetBootstraps(dir), bootstraps)
    assert.equal(await readFile(join(dir, 'bootstrap.txt'), 'utf8'), bootstraps.map(b => `${b.host}:${b.port}\n`).join(''))
    assert.deepEqual(up.bootstraps, bootstraps.map(b => `${b.host}:${b.port}`))
    assert.ok(!(await readdir(dir)).includes('testnet.lock'))
  })

  test('status --json: every process online, with what up recorded; the Redis and dashboard URLs; the human status prints them', async () => {
    const total = 6 + jobNames.length
    // The scheduler is online once it holds the leader lock (moments after its ready line).
    let s = await status()
    for (let i = 0; i < 20 && s.online < total; i++) {
      await new Promise(resolve => setTimeout(resolve, 250))
      s = await status()
    }
    assert.equal(s.status, 'running')
    assert.equal(s.total, total)
    assert.equal(s.online, total, JSON.stringify(s.processes.filter(p => !p.online)))
    for (const [i, p] of s.processes.entries()) {
      const recorded = started[i]!
      assert.deepEqual(p, { ...recorded, alive: true, online: true })
    }
    const redis = started.find(p => p.role === 'redis')
    const d = started.find(p => p.role === 'dashboard')
    assert.ok(redis?.role === 'redis')
    assert.deepEqual([s.redisUrl, s.dashboardUrl], [redis.url, d?.role === 'dashboard' ? d.url : undefined])

    const human = await runCli(['testnet', 'status', '--dir', dir])
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, new RegExp(`^redis: ${redis.url}$`, 'm'))
    if (d?.role === 'dashboard') assert.match(human.stdout, new RegExp(`^dashboard: ${d.url}$`, 'm'))
    for (const name of jobNames) assert.match(human.stdout, new RegExp(`^  online  ${name} `, 'm'))
  })

  test('up on a running testnet is refused and changes nothing', async () => {
    const before = await readFile(join(dir, 'testnet.json'), 'utf8')
    const res = await runCli(['testnet', 'up', '--nodes', '1', '--dir', dir])
    assert.equal(res.code, 1)
    assert.match(res.stderr, /already running .*\(BATCHAIN_ERR_TESTNET_RUNNING\)\n$/)
    assert.equal(res.stderr.trim().split('\n').length, 1, 'one line')
    assert.equal(await readFile(join(dir, 'testnet.json'), 'utf8'), before)
  })

  test('the durability loop runs on the testnet: an upload registers its file, the worker registers the storage nodes, and the dashboard shows both', async () => {
    const source = join(dir, 'loop.bin')
    await writeFile(source, Buffer.alloc(300_000, 7))
    const up = await runCli(['upload', source, '--testnet', dir, '--data-shards', '2', '--parity-shards', '2', '--json'], { env: { BATCHAIN_HOME: join(dir, 'client-home') } })
    assert.equal(up.code, 0, up.stderr)
    assert.equal(up.json.registered, `batchain:v1:${up.json.manifestId as string}`, 'the upload found Redis through the testnet dir and registered the file')
    const state = await loadTestnet(dir)
    const storage = state.processes.filter(p => p.role === 'storage').map(p => (p as { nodeId: string }).nodeId).sort()
    const url = (state.processes.find(p => p.role === 'dashboard') as { url: string }).url
    const getJson = async (path: string): Promise<any> => await new Promise((resolve, reject) => { // eslint-disable-line @typescript-eslint/no-explicit-any
      get(`${url}${path}`, res => { let body = ''; res.setEncoding('utf8').on('data', (d: string) => { body += d }).on('end', () => { try { resolve(JSON.parse(body)) } catch (err) { reject(err) } }) }).on('error', reject)
    })
    let nodes: string[] = []
    for (let i = 0; i < 120 && nodes.length < storage.length; i++) {
      nodes = ((await getJson('/api/nodes')).nodes as Array<{ nodeId: string, state: string }>).filter(n => n.state === 'online').map(n => n.nodeId).sort()
      if (nodes.length < storage.length) await new Promise(resolve => setTimeout(resolve, 500))
    }
    assert.deepEqual(nodes, storage, 'every storage node of the testnet is registered and online')
    const files = (await getJson('/api/files')) as { files: Array<{ manifestId: string }> }
    assert.ok(files.files.some(f => f.manifestId === up.json.manifestId), 'the dashboard lists the uploaded file')
  })

  test('a killed storage node shows offline (process gone); a frozen bootstrap shows alive but offline', async () => {
    const victim = started.find(p => p.name === 'node-2')!
    assert.ok(signalProcess(victim.pid, 'SIGKILL'))
    assert.ok(await waitForExit(victim.pid, victim.procStart, 10_000), 'the node died')
    const frozen = started.find(p => p.name === 'bootstrap-1')!
    assert.ok(signalProcess(frozen.pid, 'SIGSTOP'))
    let s
    try {
      s = await status()
    } finally {
      signalProcess(frozen.pid, 'SIGCONT')
    }
    const byName = new Map(s.processes.map(p => [p.name, p]))
    assert.deepEqual([byName.get('node-2')?.alive, byName.get('node-2')?.online], [false, false])
    assert.equal(byName.get('node-2')?.reason, 'process is not running')
    assert.deepEqual([byName.get('bootstrap-1')?.alive, byName.get('bootstrap-1')?.online], [true, false])
    assert.match(byName.get('bootstrap-1')?.reason ?? '', /^not answering: /)
    assert.equal(s.online, 4 + jobNames.length)
    for (const name of ['bootstrap-0', 'node-0', 'node-1', 'node-3', ...jobNames]) assert.equal(byName.get(name)?.online, true, name)
    // Continued, the bootstrap answers again.
    const again = await status()
    assert.equal(again.processes.find(p => p.name === 'bootstrap-1')?.online, true)
  })

  test('down stops every process (none left alive; jobs processes before Redis) and is idempotent; status then shows all offline', async () => {
    const res = await runCli(['testnet', 'down', '--dir', dir, '--json'], { timeoutMs: 120_000 })
    assert.equal(res.code, 0, `down failed: ${res.stderr}`)
    assert.equal(res.json.found, true)
    const outcomes = Object.fromEntries((res.json.processes as Array<{ name: string, outcome: string }>).map(p => [p.name, p.outcome]))
    assert.deepEqual(outcomes, {
      'bootstrap-0': 'stopped', 'bootstrap-1': 'stopped', 'node-0': 'stopped', 'node-1': 'stopped', 'node-2': 'not-running', 'node-3': 'stopped',
      ...Object.fromEntries(jobNames.map(name => [name, 'stopped']))
    })
    for (const p of started) assert.equal(isProcessAlive(p.pid, p.procStart), false, `${p.name} (pid ${p.pid}) is gone`)
    for (const p of started.filter(p => isNode(p) && p.name !== 'node-2')) {
      assert.match(await readFile(p.logFile, 'utf8'), /"msg":"stopped"/, `${p.name} shut down cleanly`)
    }
    // The worker and scheduler finished their graceful stop, which needs Redis: it was still up.
    for (const name of ['worker', 'scheduler']) assert.match(await readFile(join(dir, 'logs', `${name}.log`), 'utf8'), /"event":"stopped"/, `${name} shut down cleanly`)
    assert.match(await readFile(join(dir, 'logs', 'redis.log'), 'utf8'), /Redis is now ready to exit/, 'Redis shut down cleanly (SIGTERM)')

    const again = await runCli(['testnet', 'down', '--dir', dir, '--json'])
    assert.equal(again.code, 0)
    assert.ok((again.json.processes as Array<{ outcome: string }>).every(p => p.outcome === 'not-running'))
    const s = await status()
    assert.equal(s.status, 'stopped')
    assert.equal(s.online, 0)
    assert.ok(s.processes.every(p => !p.alive && !p.online))
  })

  test('status and down of a directory without a testnet: status fails, down has nothing to do', async () => {
    const empty = join(tmp.dir, 'empty')
    const s = await runCli(['testnet', 'status', '--dir', empty, '--json'])
    assert.equal(s.code, 1)
    assert.equal(s.json.error.code, 'BATCHAIN_ERR_TESTNET_NOT_FOUND')
    const d = await runCli(['testnet', 'down', '--dir', empty, '--json'])
    assert.equal(d.code, 0)
    assert.deepEqual(d.json, { dir: empty, found: false, processes: [] })
  })

  test('a Redis that cannot start fails up with its reason on one line; the nodes it started are stopped, no state is left', async () => {
    const bad = join(tmp.dir, 'bad-redis')
    // An unusable AOF directory: redis-server refuses to start.
    await mkdir(join(bad, 'redis'), { recursive: true })
    await writeFile(join(bad, 'redis', 'appendonlydir'), 'not a directory')
    const res = await runCli(['testnet', 'up', '--nodes', '1', '--bootstraps', '1', '--dir', bad, '--json'], { timeoutMs: 120_000 })
    assert.equal(res.code, 1, res.stdout)
    assert.equal(res.json.error.code, 'BATCHAIN_ERR_TESTNET_START')
    assert.equal(res.json.error.message, 'redis exited (code 1) before it was ready: Can\'t open or create append-only dir appendonlydir: Not a directory')
    assert.equal(res.stderr.trim().split('\n').length, 1, 'one line on stderr')
    const names = await readdir(bad)
    for (const file of ['testnet.json', 'bootstrap.txt', 'redis.url']) assert.ok(!names.includes(file), `no ${file} left`)
    for (const name of ['bootstrap-0', 'node-0']) {
      const ready = (await readFile(join(bad, 'logs', `${name}.log`), 'utf8')).split('\n').find(l => l.includes('"event":"ready"'))
      assert.ok(ready !== undefined, `${name} had started`)
      const { pid } = JSON.parse(ready) as { pid: number }
      assert.equal(isProcessAlive(pid), false, `${name} (pid ${pid}) was stopped`)
    }
    assert.ok(!(await readdir(join(bad, 'nodes'))).some(n => JOB_ROLES.includes(n)), 'no worker, scheduler or dashboard was started')
  })

  test('--no-jobs starts the nodes only: no Redis, no redis.url', async () => {
    const nodesOnly = join(tmp.dir, 'nodes-only')
    const res = await runCli(['testnet', 'up', '--nodes', '1', '--bootstraps', '1', '--dir', nodesOnly, '--no-jobs', '--json'], { timeoutMs: 120_000 })
    if (res.code === 0) started = [...started, ...res.json.processes]
    assert.equal(res.code, 0, res.stderr)
    assert.deepEqual((res.json.processes as TestnetProcess[]).map(p => p.role), ['bootstrap', 'storage'])
    assert.equal(res.json.redisUrl, undefined)
    assert.ok(!(await readdir(nodesOnly)).includes('redis.url'))
    await assert.rejects(testnetRedisUrl(nodesOnly), /--no-jobs/)
    const down = await runCli(['testnet', 'down', '--dir', nodesOnly, '--json'])
    assert.equal(down.code, 0, down.stderr)
    for (const p of res.json.processes as TestnetProcess[]) assert.equal(isProcessAlive(p.pid, p.procStart), false)
  })

  test('a node that cannot start fails up with a one-line reason and leaves nothing running', async () => {
    const bad = join(tmp.dir, 'bad')
    // 203.0.113.1 (TEST-NET-3) is not an address of this machine: binding fails.
    const res = await runCli(['testnet', 'up', '--nodes', '1', '--dir', bad, '--host', '203.0.113.1', '--json'], { timeoutMs: 120_000 })
    assert.equal(res.code, 1)
    assert.equal(res.json.error.code, 'BATCHAIN_ERR_TESTNET_START')
    assert.match(res.json.error.message, /^bootstrap-0 exited \(code \d+\) before it was ready: .*EADDRNOTAVAIL/)
    assert.equal(res.stderr.trim().split('\n').length, 1, 'one line on stderr')
    const pid = res.json.error.details.pid as number
    assert.equal(isProcessAlive(pid), false)
    assert.ok(!(await readdir(bad)).includes('testnet.json'))
  })
})

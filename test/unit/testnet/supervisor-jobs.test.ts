import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { TestnetStartError } from '../../../src/core/errors.js'
import {
  BOOTSTRAP_FILE, REDIS_URL_FILE, STATE_FILE, createTestnetSupervisor, isProcessAlive, loadTestnet, planTestnet, testnetRedisUrl,
  type TestnetProcess, type TestnetSupervisorOptions
} from '../../../src/testnet/index.js'
import { signalProcess, waitForExit } from '../../../src/testnet/liveness.js'
import { redisCommand } from '../../../src/testnet/resp.js'
import { hasCommand, requirePrerequisite } from '../../helpers/ci.js'
import { tempDir } from '../../helpers/tmp.js'

const FAKE_CLI = fileURLToPath(new URL('./fixtures/fake-node.mjs', import.meta.url))

/** Every process any test saw, killed at the end whatever happened. */
const seen = new Set<{ pid: number, procStart?: string }>()
after(() => {
  for (const p of seen) if (isProcessAlive(p.pid, p.procStart)) signalProcess(p.pid, 'SIGKILL', { group: true })
})

async function withTestnetDir (fn: (dir: string) => Promise<void>): Promise<void> {
  const tmp = await tempDir('testnet-jobs')
  try {
    await fn(tmp.dir)
  } finally {
    try {
      const state = await loadTestnet(tmp.dir)
      for (const p of state.processes) seen.add(p)
      await createTestnetSupervisor({ dir: tmp.dir, stopTimeoutMs: 2000 }).down()
    } catch { /* nothing recorded */ }
    await tmp[Symbol.asyncDispose]()
  }
}

/** Real redis-server (the Debian package), fake node and jobs processes (fixtures/fake-node.mjs, fake-jobs.mjs). */
function supervisor (dir: string, modes: Record<string, string> = {}, options: Partial<TestnetSupervisorOptions> = {}): ReturnType<typeof createTestnetSupervisor> {
  return createTestnetSupervisor({
    dir,
    cli: [process.execPath, FAKE_CLI],
    env: { ...process.env, FAKE_NODE_MODES: JSON.stringify(modes), BATCHAIN_REDIS: 'redis://192.0.2.1:1', BATCHAIN_TESTNET_DIR: '/elsewhere' },
    readyTimeoutMs: 20_000,
    stopTimeoutMs: 5000,
    ...options
  })
}

interface FakeArgv { command: string, flags: Record<string, string>, pid: number, bootstrapTxt: string | null, redisUrlFile: string | null }
async function argvOf (dir: string, name: string): Promise<FakeArgv> {
  return JSON.parse(await readFile(join(dir, 'nodes', name, 'argv.json'), 'utf8'))
}

const dead = (p: TestnetProcess): boolean => !isProcessAlive(p.pid, p.procStart)
const HINT = 'apt-get install redis-server; scripts/test.sh installs it'

describe('testnet supervisor: the jobs processes (real redis-server, fake worker/scheduler/dashboard)', () => {
  test('up starts Redis after the nodes, then worker, scheduler and dashboard against it; status: all online; down stops them before Redis and leaves nothing running', async t => {
    if (!requirePrerequisite('redis-server', hasCommand('redis-server'), t, HINT)) return
    await withTestnetDir(async dir => {
      const sup = supervisor(dir, {}, { probeTimeoutMs: 3000 })
      const state = await sup.up(planTestnet({ nodes: 2, bootstraps: 1, logLevel: 'warn', jobs: { grace: 0, keepaliveEvery: 9 } }))
      for (const p of state.processes) seen.add(p)
      assert.deepEqual(state.processes.map(p => [p.name, p.role]), [
        ['bootstrap-0', 'bootstrap'], ['node-0', 'storage'], ['node-1', 'storage'],
        ['redis', 'redis'], ['worker', 'worker'], ['scheduler', 'scheduler'], ['dashboard', 'dashboard']
      ])
      for (const p of state.processes) assert.ok(isProcessAlive(p.pid, p.procStart), `${p.name} alive`)
      const byRole = <R extends TestnetProcess['role']>(role: R): Extract<TestnetProcess, { role: R }> =>
        state.processes.find(p => p.role === role) as Extract<TestnetProcess, { role: R }>

      const redis = byRole('redis')
      assert.equal(redis.dataDir, join(dir, 'redis'))
      assert.equal(redis.url, `redis://127.0.0.1:${redis.port}`)
      assert.equal(await redisCommand(redis.url, ['PING']), 'PONG')
      assert.equal(await redisCommand(redis.url, ['CONFIG', 'GET', 'maxmemory-policy']).then(r => (r as string[])[1]), 'noeviction')
      assert.equal(await redisCommand(redis.url, ['CONFIG', 'GET', 'appendonly']).then(r => (r as string[])[1]), 'yes')
      assert.equal(await redisCommand(redis.url, ['CONFIG', 'GET', 'dir']).then(r => (r as string[])[1]), join(dir, 'redis'))
      assert.equal(await redisCommand(redis.url, ['CONFIG', 'GET', 'save']).then(r => (r as string[])[1]), '')
      assert.equal(await testnetRedisUrl(dir), redis.url, 'redis.url names it')
      assert.match(await readFile(redis.logFile, 'utf8'), /Ready to accept connections/)

      const worker = await argvOf(dir, 'worker')
      assert.deepEqual(worker.flags, { redis: redis.url, testnet: dir, json: true })
      assert.ok(worker.bootstrapTxt !== null && worker.bootstrapTxt.length > 0, 'bootstrap.txt existed when the worker started')
      assert.equal(worker.redisUrlFile, redis.url + '\n', 'so did redis.url')
      assert.deepEqual((await argvOf(dir, 'scheduler')).flags, { redis: redis.url, testnet: dir, grace: '0', 'keepalive-every': '9', json: true })
      assert.deepEqual((await argvOf(dir, 'dashboard')).flags, { redis: redis.url, port: '0', json: true })
      assert.deepEqual(byRole('worker').queues, ['keepalive'])
      assert.equal(byRole('scheduler').token, `fake:${byRole('scheduler').pid}`)
      assert.equal(byRole('scheduler').grace, 0)
      assert.match(byRole('dashboard').url, /^http:\/\/127\.0\.0\.1:\d+$/)

      // (The fake nodes do not answer probes: only the jobs processes can be online here.)
      const status = await sup.status()
      const jobs = status.processes.filter(p => ['redis', 'worker', 'scheduler', 'dashboard'].includes(p.role))
      assert.deepEqual(jobs.map(p => [p.name, p.alive, p.online]), [['redis', true, true], ['worker', true, true], ['scheduler', true, true], ['dashboard', true, true]],
        JSON.stringify(jobs.filter(p => !p.online)))

      // The scheduler lost the lock (another process deleted it): alive, not online.
      await redisCommand(redis.url, ['DEL', 'batchain:leader:schedulers'])
      const noLock = await sup.status()
      const scheduler = noLock.processes.find(p => p.role === 'scheduler')
      assert.deepEqual([scheduler?.alive, scheduler?.online], [true, false])
      assert.match(scheduler?.reason ?? '', /no scheduler holds the leader lock/)

      const down = await sup.down()
      assert.ok(down.processes.every(p => p.outcome === 'stopped'), JSON.stringify(down.processes))
      for (const p of state.processes) assert.ok(dead(p), `${p.name} stopped`)
      const stops = (await readFile(join(dir, 'stops.jsonl'), 'utf8')).trim().split('\n').map(l => JSON.parse(l) as { name: string, redisAnswered: boolean | null, at: number })
      assert.deepEqual(stops.map(s => s.name), ['dashboard', 'scheduler', 'worker'], 'dashboard, then scheduler, then worker')
      for (const s of stops) assert.equal(s.redisAnswered, true, `Redis still answered when ${s.name} stopped`)
      assert.match(await readFile(redis.logFile, 'utf8'), /Redis is now ready to exit/, 'Redis shut down cleanly')
      assert.ok((await readdir(join(dir, 'redis'))).includes('appendonlydir'), 'its AOF is in DIR/redis')
    })
  })

  test('a Redis that fails to start fails up with its own reason; the nodes already started are stopped and no state is left', async () => {
    await withTestnetDir(async dir => {
      // Like Debian's redis-server when its AOF directory is unusable: a warning line, exit 1.
      const fake = join(dir, 'fake-redis-server')
      await writeFile(fake, '#!/bin/sh\necho "$$:M 25 Nov 2026 03:24:22.311 # Can\'t open or create append-only dir appendonlydir: Not a directory"\nexit 1\n')
      await chmod(fake, 0o755)
      const sup = supervisor(dir, {}, { redisServer: fake })
      const err = await sup.up(planTestnet({ nodes: 1, bootstraps: 1, jobs: {} })).catch((e: unknown) => e)
      assert.ok(err instanceof TestnetStartError, String(err))
      assert.equal(err.message, 'redis exited (code 1) before it was ready: Can\'t open or create append-only dir appendonlydir: Not a directory')
      const names = await readdir(dir)
      for (const file of [STATE_FILE, BOOTSTRAP_FILE, REDIS_URL_FILE]) assert.ok(!names.includes(file), `${file} removed: ${names.join(',')}`)
      assert.ok(!names.includes('stops.jsonl') && !(await readdir(join(dir, 'nodes'))).includes('worker'), 'the jobs processes never started')
      for (const name of ['bootstrap-0', 'node-0']) {
        const ready = (await readFile(join(dir, 'logs', `${name}.log`), 'utf8')).split('\n').find(l => l.includes('"event":"ready"'))
        assert.ok(ready !== undefined, `${name} had started`)
        const { pid } = JSON.parse(ready) as { pid: number }
        assert.ok(await waitForExit(pid, undefined, 5000), `${name} was stopped`)
      }
    })
  })

  test('no redis-server: up fails at once saying what to install, before anything of the jobs starts', async () => {
    await withTestnetDir(async dir => {
      const err = await supervisor(dir, {}, { redisServer: join(dir, 'missing', 'redis-server') }).up(planTestnet({ nodes: 0, bootstraps: 1, jobs: {} })).catch((e: unknown) => e)
      assert.ok(err instanceof TestnetStartError, String(err))
      assert.match(err.message, /redis-server not found: install Debian's redis-server \(apt-get install redis-server\), or start the testnet with --no-jobs$/)
      assert.ok(!(await readdir(dir)).includes(STATE_FILE))
    })
  })

  test('a jobs process that exits before it is ready fails up with its reason; Redis and the nodes are stopped', async t => {
    if (!requirePrerequisite('redis-server', hasCommand('redis-server'), t, HINT)) return
    await withTestnetDir(async dir => {
      await mkdir(dir, { recursive: true })
      const err = await supervisor(dir, { scheduler: 'exit' }).up(planTestnet({ nodes: 1, bootstraps: 1, jobs: { dashboard: false } })).catch((e: unknown) => e)
      assert.ok(err instanceof TestnetStartError, String(err))
      assert.equal(err.message, 'scheduler exited (code 1) before it was ready: batchain: scheduler: simulated failure (BATCHAIN_ERR_REDIS_UNAVAILABLE)')
      assert.ok(!(await readdir(dir)).includes(STATE_FILE))
      const log = await readFile(join(dir, 'logs', 'redis.log'), 'utf8')
      const pid = Number(/^(\d+):M .*Ready to accept connections/m.exec(log)?.[1])
      assert.ok(pid > 0, 'Redis had started')
      assert.ok(await waitForExit(pid, undefined, 5000), 'Redis was stopped')
      assert.match(log, /Redis is now ready to exit/)
      // The worker started beside the scheduler: stopped too, whether it was ready yet (SIGTERM) or not (SIGKILL).
      const worker = JSON.parse(await readFile(join(dir, 'nodes', 'worker', 'argv.json'), 'utf8').catch(() => '{}')) as { pid?: number }
      if (worker.pid !== undefined) assert.ok(await waitForExit(worker.pid, undefined, 5000), 'the worker was stopped')
    })
  })
})

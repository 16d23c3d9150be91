import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { InvalidArgumentError, TestnetStartError } from '../../../src/core/errors.js'
import {
  DEFAULT_TESTNET_GRACE, KINDS, SCHEDULER_LEADER_KEY, kindOf, planTestnet, type LaunchContext, type PlannedProcess, type ProcessRole, type TestnetProcess
} from '../../../src/testnet/index.js'
import { findExecutable } from '../../../src/testnet/kinds.js'
import type { Prober } from '../../../src/testnet/probe.js'
import type { ProcessBase } from '../../../src/testnet/state.js'

const DIR = '/abs/net'
const STARTED_AT = new Date().toISOString()
const base = (name: string, pid = 4242): ProcessBase => ({ name, pid, host: '127.0.0.1', dataDir: join(DIR, 'nodes', name), logFile: join(DIR, 'logs', `${name}.log`), startedAt: STARTED_AT })
const REDIS_URL = 'redis://127.0.0.1:6390'
const redisEntry: TestnetProcess = { ...base('redis', 100), dataDir: join(DIR, 'redis'), role: 'redis', port: 6390, url: REDIS_URL }

function ctx (overrides: Partial<LaunchContext> = {}): LaunchContext {
  return { cli: ['node', '/pkg/bin/batchain.js'], dataDir: '/abs/net/nodes/x', bootstraps: [], dir: DIR, started: [redisEntry], redisServer: 'redis-server', ...overrides }
}

function spec (plan: PlannedProcess[], name: string): PlannedProcess {
  const found = plan.find(p => p.name === name)
  assert.ok(found !== undefined, `${name} is planned`)
  return found
}

/** A prober whose Redis and HTTP answers are given. */
function fakeProber (answers: { redis?: (args: readonly string[]) => unknown, http?: number }): Prober {
  return {
    pingPiece: async () => { throw new Error('unexpected') },
    dhtInfo: async () => { throw new Error('unexpected') },
    redis: async (_url, args) => answers.redis?.(args) as never,
    httpStatus: async () => answers.http ?? 200,
    close: async () => {}
  }
}

describe('testnet plan: the jobs processes', () => {
  test('without jobs the plan is nodes only (what --no-jobs starts)', () => {
    const plan = planTestnet({ nodes: 2 })
    assert.deepEqual(plan.map(p => p.role), ['bootstrap', 'bootstrap', 'storage', 'storage'])
  })

  test('with jobs: Redis after the storage nodes (on loopback), then worker, scheduler and dashboard together', () => {
    const plan = planTestnet({ nodes: 2, host: '127.0.0.2', logLevel: 'warn', jobs: {} })
    assert.deepEqual(plan.map(p => [p.name, p.role, p.stage]), [
      ['bootstrap-0', 'bootstrap', 0], ['bootstrap-1', 'bootstrap', 1], ['node-0', 'storage', 2], ['node-1', 'storage', 2],
      ['redis', 'redis', 3], ['worker', 'worker', 4], ['scheduler', 'scheduler', 4], ['dashboard', 'dashboard', 4]
    ])
    assert.equal(spec(plan, 'redis').host, '127.0.0.1', 'Redis listens on loopback whatever the nodes\' host')
    assert.equal(spec(plan, 'redis').port, undefined, 'a free port is chosen at start')
    assert.equal(spec(plan, 'scheduler').grace, DEFAULT_TESTNET_GRACE)
    assert.equal(DEFAULT_TESTNET_GRACE, 600)
    assert.equal(spec(plan, 'scheduler').keepaliveEvery, undefined)
    for (const p of plan) assert.equal(p.logLevel, 'warn')
  })

  test('grace (0 allowed), keepalive period, no dashboard, fixed Redis port; bad values refused', () => {
    const plan = planTestnet({ nodes: 0, bootstraps: 1, jobs: { grace: 0, keepaliveEvery: 5, dashboard: false, redisPort: 6391 } })
    assert.deepEqual(plan.map(p => p.name), ['bootstrap-0', 'redis', 'worker', 'scheduler'])
    assert.equal(spec(plan, 'scheduler').grace, 0)
    assert.equal(spec(plan, 'scheduler').keepaliveEvery, 5)
    assert.equal(spec(plan, 'redis').port, 6391)
    for (const jobs of [{ grace: -1 }, { grace: 1.5 }, { keepaliveEvery: 0 }, { redisPort: 70000 }]) {
      assert.throws(() => planTestnet({ nodes: 1, jobs }), InvalidArgumentError, JSON.stringify(jobs))
    }
  })
})

describe('testnet process kinds: redis, worker, scheduler, dashboard', () => {
  test('down stops the dashboard, then the scheduler, then the worker, and Redis only after them (with the storage nodes), bootstraps last', () => {
    const order = (role: ProcessRole): number => KINDS[role].stopOrder
    assert.ok(order('dashboard') < order('scheduler'))
    assert.ok(order('scheduler') < order('worker'))
    assert.ok(order('worker') < order('redis'))
    assert.ok(order('worker') < order('storage'))
    assert.ok(order('redis') < order('bootstrap') && order('storage') < order('bootstrap'))
  })

  test('redis: foreground redis-server, data in DIR/redis, AOF on, no snapshots, no eviction; its plain-text ready line', async () => {
    const kind = kindOf('redis')
    assert.equal(kind.dataDir?.({ name: 'redis', role: 'redis', stage: 3, host: '127.0.0.1' }, DIR), join(DIR, 'redis'))
    const planned = spec(planTestnet({ nodes: 0, bootstraps: 1, jobs: {} }), 'redis')
    const ready = await kind.prepare!(planned, ctx({ redisServer: process.execPath }))
    assert.ok(ready.port !== undefined && ready.port > 0, 'a free port was chosen')
    const argv = kind.argv(ready, ctx({ dataDir: join(DIR, 'redis') }))
    assert.deepEqual(argv, [
      'redis-server', '--port', String(ready.port), '--bind', '127.0.0.1', '--dir', join(DIR, 'redis'), '--save', '', '--appendonly', 'yes',
      '--maxmemory-policy', 'noeviction', '--daemonize', 'no', '--logfile', '', '--protected-mode', 'yes'
    ])
    assert.equal(kind.fromReady({ event: 'ready' }, base('redis'), ready), undefined, 'redis prints no JSON')
    assert.equal(kind.fromText!('4242:M 25 Nov 2026 03:24:22.310 * Server initialized', base('redis'), ready), undefined)
    const entry = kind.fromText!('4242:M 25 Nov 2026 03:24:22.311 * Ready to accept connections tcp', base('redis'), ready)
    assert.deepEqual(entry, { ...base('redis'), role: 'redis', host: '127.0.0.1', port: ready.port, url: `redis://127.0.0.1:${ready.port}` })
    assert.throws(() => kind.fromText!('99:M 25 Nov 2026 03:24:22.311 * Ready to accept connections tcp', base('redis'), ready), /names pid 99/)
  })

  test('redis: a missing redis-server is a clear start error; a port taken meanwhile is retried', async () => {
    const kind = kindOf('redis')
    const planned: PlannedProcess = { name: 'redis', role: 'redis', stage: 3, host: '127.0.0.1' }
    await assert.rejects(kind.prepare!(planned, ctx({ redisServer: 'no-such-redis-server-here' })),
      (err: unknown) => err instanceof TestnetStartError && /no-such-redis-server-here not found on PATH: install Debian's redis-server .*--no-jobs/.test(err.message))
    await assert.rejects(kind.prepare!(planned, ctx({ redisServer: '/nonexistent/redis-server' })), /\/nonexistent\/redis-server not found: /)
    const inUse = new TestnetStartError('redis exited (code 1) before it was ready: Warning: Could not create server TCP listening socket 127.0.0.1:6390: bind: Address already in use')
    assert.equal(kind.retryStart!(inUse, { ...planned, port: 6390 }), true)
    assert.equal(kind.retryStart!(new TestnetStartError('redis exited (code 1) before it was ready: Can\'t open or create append-only dir'), { ...planned, port: 6390 }), false)
    assert.equal(findExecutable('sh', '/nonexistent:/bin:/usr/bin')?.endsWith('/sh'), true)
    assert.equal(findExecutable('sh', '/nonexistent'), undefined)
  })

  test('worker, scheduler and dashboard run this CLI against the Redis started before them and the testnet dir', async () => {
    const plan = planTestnet({ nodes: 1, bootstraps: 1, jobs: { grace: 0, keepaliveEvery: 7 } })
    const prepared = async (name: string): Promise<PlannedProcess> => await kindOf(spec(plan, name).role).prepare!(spec(plan, name), ctx())
    const worker = await prepared('worker')
    assert.equal(worker.redis, REDIS_URL)
    assert.deepEqual(kindOf('worker').argv(worker, ctx()), ['node', '/pkg/bin/batchain.js', 'worker', '--redis', REDIS_URL, '--testnet', DIR, '--json'])
    const scheduler = await prepared('scheduler')
    assert.deepEqual(kindOf('scheduler').argv(scheduler, ctx()), [
      'node', '/pkg/bin/batchain.js', 'scheduler', '--redis', REDIS_URL, '--testnet', DIR, '--grace', '0', '--keepalive-every', '7', '--json'
    ])
    const dashboard = await prepared('dashboard')
    assert.deepEqual(kindOf('dashboard').argv(dashboard, ctx()), ['node', '/pkg/bin/batchain.js', 'dashboard', '--redis', REDIS_URL, '--port', '0', '--json'])
    await assert.rejects(kindOf('worker').prepare!(spec(plan, 'worker'), ctx({ started: [] })),
      (err: unknown) => err instanceof TestnetStartError && /worker needs a Redis started by an earlier stage/.test(err.message))
  })

  test('their ready lines become state entries; a ready line that lacks what the entry needs, or names another pid, is refused', async () => {
    const plan = planTestnet({ nodes: 0, bootstraps: 1, jobs: { grace: 30 } })
    const prepared = async (name: string): Promise<PlannedProcess> => await kindOf(spec(plan, name).role).prepare!(spec(plan, name), ctx())
    const worker = await prepared('worker')
    assert.equal(kindOf('worker').fromReady({ event: 'started' }, base('worker'), worker), undefined)
    assert.deepEqual(kindOf('worker').fromReady({ event: 'ready', name: 'h:4242', queues: ['keepalive'], concurrency: 4, pid: 4242 }, base('worker'), worker),
      { ...base('worker'), role: 'worker', redis: REDIS_URL, workerName: 'h:4242', queues: ['keepalive'] })
    assert.throws(() => kindOf('worker').fromReady({ event: 'ready', name: 'h:1', queues: ['keepalive'], pid: 1 }, base('worker'), worker), /names pid 1, the process is 4242/)
    assert.throws(() => kindOf('worker').fromReady({ event: 'ready', name: 'h:1' }, base('worker'), worker), /ready line queues/)

    const scheduler = await prepared('scheduler')
    const entry = kindOf('scheduler').fromReady({ event: 'ready', token: 'h:4242:abcd', redis: 'redis://127.0.0.1:6390/0', pid: 4242 }, base('scheduler'), scheduler)
    assert.equal(entry?.role, 'scheduler')
    assert.ok(entry?.role === 'scheduler')
    assert.deepEqual([entry.token, entry.redis, entry.grace, entry.keepaliveEvery], ['h:4242:abcd', REDIS_URL, 30, undefined])
    assert.equal(kindOf('scheduler').fromReady({ event: 'leader', token: 'h:4242:abcd' }, base('scheduler'), scheduler), undefined)
    assert.throws(() => kindOf('scheduler').fromReady({ event: 'ready', pid: 4242 }, base('scheduler'), scheduler), /ready line token/)

    const dashboard = await prepared('dashboard')
    const d = kindOf('dashboard').fromReady({ event: 'ready', url: 'http://127.0.0.1:45123', redis: 'redis://127.0.0.1:6390/0' }, base('dashboard'), dashboard)
    assert.ok(d?.role === 'dashboard')
    assert.deepEqual([d.url, d.port, d.host, d.redis], ['http://127.0.0.1:45123', 45123, '127.0.0.1', REDIS_URL])
    assert.throws(() => kindOf('dashboard').fromReady({ event: 'ready', url: 'ftp://127.0.0.1:1' }, base('dashboard'), dashboard), /ready line url/)
    for (const e of [entry, d]) assert.equal(kindOf(e.role).seedAddress(e), undefined)
  })

  test('probes: redis answers PING; a scheduler holds the leader lock; the dashboard answers /healthz with 200; a worker needs only to be alive', async () => {
    const redis = KINDS.redis
    await redis.probe(redisEntry as Extract<TestnetProcess, { role: 'redis' }>, fakeProber({ redis: () => 'PONG' }), {})
    await assert.rejects(redis.probe(redisEntry as Extract<TestnetProcess, { role: 'redis' }>, fakeProber({ redis: () => 'NOPE' }), {}), /PING answered "NOPE"/)

    const scheduler = { ...base('scheduler'), role: 'scheduler' as const, redis: REDIS_URL, token: 't' }
    const asked: Array<readonly string[]> = []
    await KINDS.scheduler.probe(scheduler, fakeProber({ redis: args => { asked.push(args); return 't' } }), {})
    assert.deepEqual(asked, [['GET', SCHEDULER_LEADER_KEY]])
    assert.equal(SCHEDULER_LEADER_KEY, 'batchain:leader:schedulers')
    await assert.rejects(KINDS.scheduler.probe(scheduler, fakeProber({ redis: () => null }), {}), /no scheduler holds the leader lock/)

    const dashboard = { ...base('dashboard'), role: 'dashboard' as const, redis: REDIS_URL, port: 1, url: 'http://127.0.0.1:1' }
    await KINDS.dashboard.probe(dashboard, fakeProber({ http: 200 }), {})
    await assert.rejects(KINDS.dashboard.probe(dashboard, fakeProber({ http: 503 }), {}), /GET \/healthz answered 503/)

    await KINDS.worker.probe({ ...base('worker'), role: 'worker', redis: REDIS_URL, queues: [] }, fakeProber({}), {})
  })
})

import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AbortError, TestnetRunningError, TestnetStartError, TestnetStateError } from '../../../src/core/errors.js'
import {
  BOOTSTRAP_FILE, STATE_FILE, createTestnetSupervisor, isProcessAlive, loadTestnet, planTestnet, testnetBootstraps,
  type TestnetProcess, type TestnetSupervisorOptions
} from '../../../src/testnet/index.js'
import { signalProcess } from '../../../src/testnet/liveness.js'
import { tempDir } from '../../helpers/tmp.js'

const FAKE_NODE = fileURLToPath(new URL('./fixtures/fake-node.mjs', import.meta.url))

/** Every pid any test saw, killed at the end whatever happened. */
const seen = new Set<{ pid: number, procStart?: string }>()
after(() => {
  for (const p of seen) if (isProcessAlive(p.pid, p.procStart)) signalProcess(p.pid, 'SIGKILL', { group: true })
})
function track (processes: readonly TestnetProcess[]): void {
  for (const p of processes) seen.add(p)
}

async function withTestnetDir (fn: (dir: string) => Promise<void>): Promise<void> {
  const tmp = await tempDir('testnet-sup')
  try {
    await fn(tmp.dir)
  } finally {
    // Stop whatever a failed test left (best effort) before removing the directory.
    try {
      const state = await loadTestnet(tmp.dir)
      track(state.processes)
      await createTestnetSupervisor({ dir: tmp.dir, stopTimeoutMs: 2000 }).down()
    } catch { /* nothing recorded */ }
    await tmp[Symbol.asyncDispose]()
  }
}

function supervisor (dir: string, modes: Record<string, string> = {}, options: Partial<TestnetSupervisorOptions> = {}): ReturnType<typeof createTestnetSupervisor> {
  return createTestnetSupervisor({
    dir,
    cli: [process.execPath, FAKE_NODE],
    env: { ...process.env, FAKE_NODE_MODES: JSON.stringify(modes) },
    readyTimeoutMs: 20_000,
    stopTimeoutMs: 5000,
    ...options
  })
}

async function argvOf (p: TestnetProcess): Promise<{ args: string[], flags: Record<string, unknown>, logLevel: string }> {
  return JSON.parse(await readFile(join(p.dataDir, 'argv.json'), 'utf8'))
}

const dead = (p: TestnetProcess): boolean => !isProcessAlive(p.pid, p.procStart)

describe('testnet supervisor (fake node processes)', () => {
  test('up starts bootstraps then storage nodes with the right flags, records them, refuses a second up; down stops all; up again replaces the stale state', async () => {
    await withTestnetDir(async dir => {
      const sup = supervisor(dir)
      const ready: string[] = []
      const state = await createTestnetSupervisor({
        dir,
        cli: [process.execPath, FAKE_NODE],
        env: { ...process.env, FAKE_NODE_MODES: '{}' },
        onReady: p => { ready.push(p.name) }
      }).up(planTestnet({ nodes: 3, bootstraps: 2, zones: 2, capacity: 1 << 20, logLevel: 'warn' }))
      track(state.processes)
      assert.equal(state.status, 'running')
      assert.deepEqual(state.processes.map(p => p.name), ['bootstrap-0', 'bootstrap-1', 'node-0', 'node-1', 'node-2'])
      assert.deepEqual(new Set(ready), new Set(state.processes.map(p => p.name)))
      assert.equal(ready[0], 'bootstrap-0')
      assert.deepEqual(await loadTestnet(dir), state, 'testnet.json holds what up returned')
      for (const p of state.processes) {
        assert.ok(isProcessAlive(p.pid, p.procStart), `${p.name} alive`)
        assert.equal(p.dataDir, join(dir, 'nodes', p.name))
        assert.equal(p.logFile, join(dir, 'logs', `${p.name}.log`))
        assert.ok(p.role === 'bootstrap' || p.role === 'storage')
        assert.match(p.nodeId, /^[0-9a-f]{64}$/)
        assert.match(await readFile(p.logFile, 'utf8'), /"event":"ready"/, 'stdout goes to the log')
      }
      const [b0, b1, ...storage] = state.processes
      assert.ok(b0?.role === 'bootstrap' && b1?.role === 'bootstrap')
      const seeds = [`127.0.0.1:${b0.dhtPort}`, `127.0.0.1:${b1.dhtPort}`]
      assert.deepEqual(await testnetBootstraps(dir), [{ host: '127.0.0.1', port: b0.dhtPort }, { host: '127.0.0.1', port: b1.dhtPort }])
      assert.equal(await readFile(join(dir, BOOTSTRAP_FILE), 'utf8'), seeds.join('\n') + '\n')
      const a0 = await argvOf(b0)
      assert.equal(a0.flags.bootstrap, undefined, 'the first bootstrap joins nobody')
      assert.equal(a0.flags.role, 'bootstrap')
      assert.equal(a0.logLevel, 'warn')
      assert.deepEqual((await argvOf(b1)).flags.bootstrap, [seeds[0]], 'the second bootstrap joins the first')
      for (const [i, p] of storage.entries()) {
        assert.ok(p.role === 'storage')
        assert.equal(p.zone, `zone-${i % 2}`)
        const a = await argvOf(p)
        assert.deepEqual(a.flags.bootstrap, seeds, `${p.name} joins both bootstraps`)
        assert.equal(a.flags.role, 'storage')
        assert.equal(a.flags.zone, `zone-${i % 2}`)
        assert.equal(a.flags.capacity, String(1 << 20))
        assert.equal(a.flags.port, '0')
        assert.equal(a.flags['dht-port'], '0')
        assert.equal(a.flags.json, true)
      }

      await assert.rejects(sup.up(planTestnet({ nodes: 1 })), (err: unknown) => err instanceof TestnetRunningError && /already running/.test(err.message))
      assert.deepEqual(await loadTestnet(dir), state, 'a refused up leaves the running testnet alone')

      const down = await sup.down()
      assert.equal(down.found, true)
      assert.deepEqual(down.processes.map(p => [p.name, p.outcome]), state.processes.map(p => [p.name, 'stopped']))
      for (const p of state.processes) assert.ok(dead(p), `${p.name} stopped`)
      const stopped = await loadTestnet(dir)
      assert.equal(stopped.status, 'stopped')
      assert.ok(stopped.stoppedAt !== undefined)
      assert.deepEqual((await sup.down()).processes.map(p => p.outcome), state.processes.map(() => 'not-running'), 'down is idempotent')

      const again = await sup.up(planTestnet({ nodes: 1, bootstraps: 1 }))
      track(again.processes)
      assert.deepEqual(again.processes.map(p => p.name), ['bootstrap-0', 'node-0'])
      assert.deepEqual(await loadTestnet(dir), again, 'the stale state was replaced')
      await sup.down()
      for (const p of again.processes) assert.ok(dead(p))
      assert.ok(!(await readdir(dir)).includes('testnet.lock'), 'the lock is released')
    })
  })

  test('a node not ready in time fails up with a one-line reason; everything started is stopped and no state is left', async () => {
    await withTestnetDir(async dir => {
      const sup = supervisor(dir, { 'node-1': 'never' }, { readyTimeoutMs: 1500 })
      const started: TestnetProcess[] = []
      const err = await sup.up(planTestnet({ nodes: 2, bootstraps: 1 })).catch((e: unknown) => e)
      assert.ok(err instanceof TestnetStartError, String(err))
      assert.equal(err.code, 'BATCHAIN_ERR_TESTNET_START')
      assert.match(err.message, /^node-1 was not ready within 1500 ms/)
      assert.ok(!err.message.includes('\n'))
      const pid = err.details?.pid as number
      assert.ok(!isProcessAlive(pid), 'the process that was not ready was killed')
      const names = await readdir(dir)
      assert.ok(!names.includes(STATE_FILE) && !names.includes(BOOTSTRAP_FILE), `no state left: ${names.join(',')}`)
      for (const name of ['bootstrap-0', 'node-0']) {
        const argv = JSON.parse(await readFile(join(dir, 'nodes', name, 'argv.json'), 'utf8')) as { args: string[] }
        assert.ok(argv.args.length > 0)
      }
      // Their pids were in the ready lines of their logs: all dead.
      for (const name of ['bootstrap-0', 'node-0', 'node-1']) {
        const log = await readFile(join(dir, 'logs', `${name}.log`), 'utf8')
        const line = log.split('\n').find(l => l.includes('"event":"ready"'))
        if (line === undefined) continue
        const p = JSON.parse(line) as { pid: number }
        started.push({ name, pid: p.pid } as TestnetProcess)
        assert.ok(!isProcessAlive(p.pid), `${name} was stopped`)
      }
      assert.equal(started.length, 2)
    })
  })

  test('a node that exits before it is ready fails up with its own error line', async () => {
    await withTestnetDir(async dir => {
      const err = await supervisor(dir, { 'bootstrap-1': 'exit' }).up(planTestnet({ nodes: 1, bootstraps: 2 })).catch((e: unknown) => e)
      assert.ok(err instanceof TestnetStartError, String(err))
      assert.equal(err.message, 'bootstrap-1 exited (code 3) before it was ready: batchain: cannot open the data dir: simulated failure (BATCHAIN_ERR_STORE)')
      assert.ok(!(await readdir(dir)).includes(STATE_FILE))
      assert.equal((await readdir(join(dir, 'nodes'))).includes('node-0'), false, 'later stages never started')
    })
  })

  test('a ready line naming another pid, or without a node id, is refused', async () => {
    await withTestnetDir(async dir => {
      await assert.rejects(supervisor(dir, { 'bootstrap-0': 'wrong-pid' }).up(planTestnet({ nodes: 0, bootstraps: 1 })),
        (err: unknown) => err instanceof TestnetStartError && /bad ready line: ready line names pid/.test(err.message))
      await assert.rejects(supervisor(dir, { 'node-0': 'bad-ready' }).up(planTestnet({ nodes: 1, bootstraps: 1 })),
        (err: unknown) => err instanceof TestnetStartError && /node-0 printed a bad ready line: ready line nodeId/.test(err.message))
      assert.ok(!(await readdir(dir)).includes(STATE_FILE))
    })
  })

  test('down: a node that ignores SIGTERM gets SIGKILL after the stop timeout', async () => {
    await withTestnetDir(async dir => {
      const sup = supervisor(dir, { 'node-0': 'ignore-term' }, { stopTimeoutMs: 500 })
      const state = await sup.up(planTestnet({ nodes: 2, bootstraps: 1 }))
      track(state.processes)
      const report = await sup.down()
      assert.deepEqual(Object.fromEntries(report.processes.map(p => [p.name, p.outcome])), { 'bootstrap-0': 'stopped', 'node-0': 'killed', 'node-1': 'stopped' })
      for (const p of state.processes) assert.ok(dead(p))
      assert.match(await readFile(join(dir, 'logs', 'node-0.log'), 'utf8'), /ignoring SIGTERM/)
    })
  })

  test('status of dead processes: alive and online false, exit reason given; status without a testnet throws', async () => {
    await withTestnetDir(async dir => {
      const sup = supervisor(dir)
      await assert.rejects(sup.status(), (err: unknown) => (err as { code?: string }).code === 'BATCHAIN_ERR_TESTNET_NOT_FOUND')
      const state = await sup.up(planTestnet({ nodes: 1, bootstraps: 1 }))
      track(state.processes)
      for (const p of state.processes) signalProcess(p.pid, 'SIGKILL')
      for (const p of state.processes) {
        for (let i = 0; i < 200 && !dead(p); i++) await new Promise(resolve => setTimeout(resolve, 25))
      }
      const status = await sup.status()
      assert.equal(status.total, 2)
      assert.equal(status.online, 0)
      for (const p of status.processes) {
        assert.equal(p.alive, false)
        assert.equal(p.online, false)
        assert.equal(p.reason, 'process is not running')
      }
      assert.deepEqual((await sup.down()).processes.map(p => p.outcome), ['not-running', 'not-running'])
    })
  })

  test('aborting up stops what it started and removes the state', async () => {
    await withTestnetDir(async dir => {
      const controller = new AbortController()
      const readyOnes: TestnetProcess[] = []
      const sup = createTestnetSupervisor({
        dir,
        cli: [process.execPath, FAKE_NODE],
        env: { ...process.env, FAKE_NODE_MODES: JSON.stringify({ 'node-0': 'never' }) },
        onReady: p => { track([p]); readyOnes.push(p); if (p.name === 'bootstrap-0') setTimeout(() => { controller.abort() }, 300) }
      })
      await assert.rejects(sup.up(planTestnet({ nodes: 1, bootstraps: 1 }), { signal: controller.signal }), AbortError)
      assert.deepEqual(readyOnes.map(p => p.name), ['bootstrap-0'])
      for (const p of readyOnes) assert.ok(dead(p), `${p.name} stopped`)
      assert.ok(!(await readdir(dir)).includes(STATE_FILE))
    })
  })

  test('up refuses a corrupt testnet.json rather than start over processes it cannot see', async () => {
    await withTestnetDir(async dir => {
      await writeFile(join(dir, STATE_FILE), '{"version":1,')
      await assert.rejects(supervisor(dir).up(planTestnet({ nodes: 1 })), (err: unknown) => err instanceof TestnetStateError && /make sure none of its processes run/.test(err.message))
      await assert.rejects(supervisor(dir).down(), TestnetStateError)
    })
  })
})

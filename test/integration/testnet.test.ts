import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { isProcessAlive, loadTestnet, testnetBootstraps, type TestnetProcess } from '../../src/testnet/index.js'
import { signalProcess, waitForExit } from '../../src/testnet/liveness.js'
import { runCli } from '../helpers/cli.js'
import { tempDir, type TempDir } from '../helpers/tmp.js'

/**
 * `batchain testnet up|status|down` as a user runs it: real bootstrap and storage node processes on
 * loopback, started in the background by one CLI process and found again by the next.
 */
describe('local testnet (real node processes)', () => {
  let tmp: TempDir
  let dir: string
  /** Every process the testnet started, as recorded; all are killed in after() whatever happened. */
  let started: TestnetProcess[] = []

  before(async () => {
    tmp = await tempDir('testnet')
    dir = join(tmp.dir, 'net')
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

  async function status (): Promise<{ online: number, total: number, status: string, processes: Array<TestnetProcess & { alive: boolean, online: boolean, reason?: string }> }> {
    const res = await runCli(['testnet', 'status', '--dir', dir, '--json'])
    assert.equal(res.code, 0, `status failed: ${res.stderr}`)
    assert.ok(res.json !== undefined, `status printed one JSON document: ${res.stdout}`)
    return res.json
  }

  test('up --nodes 4: 2 bootstraps + 4 storage nodes ready, recorded in testnet.json and bootstrap.txt', async () => {
    const res = await runCli(['testnet', 'up', '--nodes', '4', '--dir', dir, '--json'], { timeoutMs: 180_000 })
    if (res.code === 0) started = res.json.processes
    assert.equal(res.code, 0, `up failed: ${res.stderr}`)
    const up = res.json as { dir: string, status: string, processes: TestnetProcess[], bootstraps: string[] }
    assert.equal(up.dir, dir)
    assert.equal(up.status, 'running')
    assert.deepEqual(up.processes.map(p => [p.name, p.role]), [
      ['bootstrap-0', 'bootstrap'], ['bootstrap-1', 'bootstrap'],
      ['node-0', 'storage'], ['node-1', 'storage'], ['node-2', 'storage'], ['node-3', 'storage']
    ])
    assert.equal(new Set(up.processes.map(p => p.nodeId)).size, 6, 'distinct node ids')
    assert.equal(new Set(up.processes.map(p => p.pid)).size, 6, 'distinct pids')
    for (const p of up.processes) {
      assert.match(p.nodeId, /^[0-9a-f]{64}$/)
      assert.equal(p.host, '127.0.0.1')
      assert.ok(p.dhtPort > 0)
      if (p.role === 'storage') assert.ok(p.port > 0)
      assert.equal(p.dataDir, join(dir, 'nodes', p.name))
      assert.equal(p.logFile, join(dir, 'logs', `${p.name}.log`))
      assert.ok(isProcessAlive(p.pid, p.procStart), `${p.name} runs after up exited`)
    }
    const { stateFile, bootstrapFile, bootstraps: _list, ...state } = res.json
    assert.equal(stateFile, join(dir, 'testnet.json'))
    assert.equal(bootstrapFile, join(dir, 'bootstrap.txt'))
    assert.deepEqual(await loadTestnet(dir), state, 'testnet.json holds what up printed')
    const bootstraps = up.processes.filter(p => p.role === 'bootstrap').map(p => ({ host: p.host, port: p.dhtPort }))
    assert.deepEqual(await testnetBootstraps(dir), bootstraps)
    assert.equal(await readFile(join(dir, 'bootstrap.txt'), 'utf8'), bootstraps.map(b => `${b.host}:${b.port}\n`).join(''))
    assert.deepEqual(up.bootstraps, bootstraps.map(b => `${b.host}:${b.port}`))
    assert.ok(!(await readdir(dir)).includes('testnet.lock'))
  })

  test('status --json: every process online, with what up recorded', async () => {
    const s = await status()
    assert.equal(s.status, 'running')
    assert.equal(s.total, 6)
    assert.equal(s.online, 6, JSON.stringify(s.processes.filter(p => !p.online)))
    for (const [i, p] of s.processes.entries()) {
      const recorded = started[i]!
      assert.equal(p.name, recorded.name)
      assert.equal(p.nodeId, recorded.nodeId)
      assert.equal(p.pid, recorded.pid)
      assert.equal(p.dhtPort, recorded.dhtPort)
      assert.equal(p.dataDir, recorded.dataDir)
      assert.deepEqual([p.alive, p.online], [true, true])
    }
  })

  test('up on a running testnet is refused and changes nothing', async () => {
    const before = await readFile(join(dir, 'testnet.json'), 'utf8')
    const res = await runCli(['testnet', 'up', '--nodes', '1', '--dir', dir])
    assert.equal(res.code, 1)
    assert.match(res.stderr, /already running .*\(BATCHAIN_ERR_TESTNET_RUNNING\)\n$/)
    assert.equal(res.stderr.trim().split('\n').length, 1, 'one line')
    assert.equal(await readFile(join(dir, 'testnet.json'), 'utf8'), before)
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
    assert.equal(s.online, 4)
    for (const name of ['bootstrap-0', 'node-0', 'node-1', 'node-3']) assert.equal(byName.get(name)?.online, true, name)
    // Continued, the bootstrap answers again.
    const again = await status()
    assert.equal(again.processes.find(p => p.name === 'bootstrap-1')?.online, true)
  })

  test('down stops every process (none left alive) and is idempotent; status then shows all offline', async () => {
    const res = await runCli(['testnet', 'down', '--dir', dir, '--json'], { timeoutMs: 120_000 })
    assert.equal(res.code, 0, `down failed: ${res.stderr}`)
    assert.equal(res.json.found, true)
    const outcomes = Object.fromEntries((res.json.processes as Array<{ name: string, outcome: string }>).map(p => [p.name, p.outcome]))
    assert.deepEqual(outcomes, {
      'bootstrap-0': 'stopped', 'bootstrap-1': 'stopped', 'node-0': 'stopped', 'node-1': 'stopped', 'node-2': 'not-running', 'node-3': 'stopped'
    })
    for (const p of started) assert.equal(isProcessAlive(p.pid, p.procStart), false, `${p.name} (pid ${p.pid}) is gone`)
    for (const p of started.filter(p => p.name !== 'node-2')) {
      assert.match(await readFile(p.logFile, 'utf8'), /"msg":"stopped"/, `${p.name} shut down cleanly`)
    }

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

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { TestnetNotFoundError, TestnetStateError } from '../../../src/core/errors.js'
import {
  BOOTSTRAP_FILE, REDIS_URL_FILE, STATE_FILE, TESTNET_DIR_ENV, loadTestnet, saveTestnet, testnetBootstraps, testnetDirFrom, testnetRedisUrl, type TestnetState
} from '../../../src/testnet/index.js'
import { removeTestnetFiles, saveBootstrapList, saveRedisUrl } from '../../../src/testnet/state-file.js'
import { withTempDir } from '../../helpers/tmp.js'

const id = (c: string): string => c.repeat(64)

function sampleState (dir: string): TestnetState {
  const now = new Date().toISOString()
  return {
    version: 1,
    dir,
    status: 'running',
    createdAt: now,
    processes: [
      { name: 'bootstrap-0', role: 'bootstrap', nodeId: id('a'), host: '127.0.0.1', dhtPort: 4000, pid: 101, procStart: '12345', dataDir: join(dir, 'nodes/bootstrap-0'), logFile: join(dir, 'logs/bootstrap-0.log'), startedAt: now },
      { name: 'node-0', role: 'storage', nodeId: id('b'), host: '127.0.0.1', port: 5000, dhtPort: 4001, pid: 102, dataDir: join(dir, 'nodes/node-0'), logFile: join(dir, 'logs/node-0.log'), startedAt: now, zone: 'zone-0', capacity: 1 << 30 }
    ]
  }
}

describe('testnet state file', () => {
  test('round trip: what is saved loads back equal; no temp file is left', async () => {
    await withTempDir('testnet-state', async dir => {
      const state = sampleState(dir)
      await saveTestnet(dir, state)
      assert.deepEqual(await loadTestnet(dir), state)
      state.status = 'stopped'
      state.stoppedAt = new Date().toISOString()
      await saveTestnet(dir, state)
      assert.deepEqual(await loadTestnet(dir), state)
      assert.deepEqual(await readdir(dir), [STATE_FILE])
    })
  })

  test('a missing file is TestnetNotFoundError; a missing directory too', async () => {
    await withTempDir('testnet-state', async dir => {
      await assert.rejects(loadTestnet(dir), (err: unknown) => err instanceof TestnetNotFoundError && err.code === 'BATCHAIN_ERR_TESTNET_NOT_FOUND' && err.message.includes(dir))
      await assert.rejects(loadTestnet(join(dir, 'nope')), TestnetNotFoundError)
    })
  })

  test('corrupt, truncated, other-version and schema-violating files are TestnetStateError with the reason', async () => {
    await withTempDir('testnet-state', async dir => {
      const file = join(dir, STATE_FILE)
      const good = JSON.stringify(sampleState(dir))
      const cases: Array<[string, string, RegExp]> = [
        ['garbage', 'not json {', /not valid JSON/],
        ['truncated', good.slice(0, good.length / 2), /not valid JSON/],
        ['empty', '', /not valid JSON/],
        ['array', '[]', /state version undefined/],
        ['version 2', JSON.stringify({ ...sampleState(dir), version: 2 }), /state version 2; this batchain reads version 1/],
        ['bad node id', good.replace(id('a'), 'xyz'), /processes\.0\.nodeId/],
        ['unknown role', good.replace('"storage"', '"miner"'), /processes\.1/],
        ['bad port', good.replace('5000', '70000'), /processes\.1\.port/],
        ['unsafe name', good.replace('"node-0"', '"../etc"'), /processes\.1\.name/],
        ['duplicate name', good.replace('"node-0"', '"bootstrap-0"'), /duplicate process name bootstrap-0/]
      ]
      for (const [what, text, message] of cases) {
        await writeFile(file, text)
        await assert.rejects(loadTestnet(dir), (err: unknown) => {
          assert.ok(err instanceof TestnetStateError, `${what}: ${String(err)}`)
          assert.equal(err.code, 'BATCHAIN_ERR_TESTNET_STATE')
          assert.match(err.message, message, what)
          assert.ok(!err.message.includes('\n'), `${what}: one line`)
          return true
        })
      }
    })
  })

  test('saveTestnet refuses an invalid state instead of writing it', async () => {
    await withTempDir('testnet-state', async dir => {
      const state = sampleState(dir)
      state.processes[0]!.pid = -1
      await assert.rejects(saveTestnet(dir, state))
      await assert.rejects(loadTestnet(dir), TestnetNotFoundError)
    })
  })
})

/** A state with the jobs processes too (what `testnet up` writes unless --no-jobs). */
function jobsState (dir: string): TestnetState {
  const state = sampleState(dir)
  const now = state.createdAt
  const common = (name: string, pid: number): { name: string, pid: number, host: string, dataDir: string, logFile: string, startedAt: string } =>
    ({ name, pid, host: '127.0.0.1', dataDir: join(dir, 'nodes', name), logFile: join(dir, 'logs', `${name}.log`), startedAt: now })
  state.processes.push(
    { ...common('redis', 103), dataDir: join(dir, 'redis'), role: 'redis', port: 6390, url: 'redis://127.0.0.1:6390' },
    { ...common('worker', 104), role: 'worker', redis: 'redis://127.0.0.1:6390', workerName: 'host:104', queues: ['keepalive', 'audit'] },
    { ...common('scheduler', 105), role: 'scheduler', redis: 'redis://127.0.0.1:6390', token: 'host:105:0011aabb', grace: 0, keepaliveEvery: 30 },
    { ...common('dashboard', 106), role: 'dashboard', redis: 'redis://127.0.0.1:6390', port: 8080, url: 'http://127.0.0.1:8080' }
  )
  return state
}

describe('testnet state file: the jobs processes', () => {
  test('redis, worker, scheduler and dashboard entries round-trip', async () => {
    await withTempDir('testnet-state', async dir => {
      const state = jobsState(dir)
      await saveTestnet(dir, state)
      assert.deepEqual(await loadTestnet(dir), state)
    })
  })

  test('entries missing what their role needs are refused', async () => {
    await withTempDir('testnet-state', async dir => {
      const good = jobsState(dir)
      const cases: Array<[string, (s: TestnetState) => void, RegExp]> = [
        ['redis without url', s => { delete (s.processes[2] as { url?: string }).url }, /processes\.2\.url/],
        ['redis url not redis://', s => { (s.processes[2] as { url: string }).url = 'http://127.0.0.1:6390' }, /processes\.2\.url/],
        ['worker without queues', s => { delete (s.processes[3] as { queues?: string[] }).queues }, /processes\.3\.queues/],
        ['scheduler without token', s => { delete (s.processes[4] as { token?: string }).token }, /processes\.4\.token/],
        ['negative grace', s => { (s.processes[4] as { grace: number }).grace = -1 }, /processes\.4\.grace/],
        ['dashboard url not http', s => { (s.processes[5] as { url: string }).url = 'file:///etc/passwd' }, /processes\.5\.url/]
      ]
      for (const [what, spoil, message] of cases) {
        const state = structuredClone(good)
        spoil(state)
        await writeFile(join(dir, STATE_FILE), JSON.stringify(state))
        await assert.rejects(loadTestnet(dir), (err: unknown) => err instanceof TestnetStateError && message.test(err.message), what)
      }
    })
  })
})

describe('redis.url: the Redis of clients given --testnet', () => {
  test('testnetRedisUrl reads what saveRedisUrl wrote, skipping blanks and comments; removeTestnetFiles removes it', async () => {
    await withTempDir('testnet-redis', async dir => {
      await saveRedisUrl(dir, 'redis://127.0.0.1:6390')
      assert.equal(await readFile(join(dir, REDIS_URL_FILE), 'utf8'), 'redis://127.0.0.1:6390\n')
      assert.equal(await testnetRedisUrl(dir), 'redis://127.0.0.1:6390')
      await writeFile(join(dir, REDIS_URL_FILE), '# the jobs\' Redis\n\n  redis://10.0.0.5:6379/2  \r\n')
      assert.equal(await testnetRedisUrl(dir), 'redis://10.0.0.5:6379/2')
      await removeTestnetFiles(dir)
      assert.deepEqual(await readdir(dir), [])
    })
  })

  test('a missing file (no testnet, or --no-jobs) is TestnetNotFoundError; anything but a redis URL is TestnetStateError', async () => {
    await withTempDir('testnet-redis', async dir => {
      await assert.rejects(testnetRedisUrl(dir), (err: unknown) => err instanceof TestnetNotFoundError && /redis\.url is missing .*--no-jobs/.test(err.message))
      for (const text of ['', '# none\n', 'http://127.0.0.1:6379\n', 'not a url\n', 'redis://\n']) {
        await writeFile(join(dir, REDIS_URL_FILE), text)
        await assert.rejects(testnetRedisUrl(dir), (err: unknown) => err instanceof TestnetStateError && /holds no Redis URL/.test(err.message), JSON.stringify(text))
      }
    })
  })
})

describe('bootstrap.txt and the testnet directory of clients', () => {
  test('testnetBootstraps reads what saveBootstrapList wrote (IPv4 and IPv6), skipping blanks and comments', async () => {
    await withTempDir('testnet-boot', async dir => {
      await saveBootstrapList(dir, [{ host: '127.0.0.1', port: 4000 }, { host: '::1', port: 4001 }])
      assert.equal(await readFile(join(dir, BOOTSTRAP_FILE), 'utf8'), '127.0.0.1:4000\n[::1]:4001\n')
      assert.deepEqual(await testnetBootstraps(dir), [{ host: '127.0.0.1', port: 4000 }, { host: '::1', port: 4001 }])
      await writeFile(join(dir, BOOTSTRAP_FILE), '# seeds\n\n  10.0.0.1:4100  \r\n')
      assert.deepEqual(await testnetBootstraps(dir), [{ host: '10.0.0.1', port: 4100 }])
    })
  })

  test('missing, empty and malformed bootstrap lists fail clearly', async () => {
    await withTempDir('testnet-boot', async dir => {
      await assert.rejects(testnetBootstraps(dir), TestnetNotFoundError)
      await writeFile(join(dir, BOOTSTRAP_FILE), '\n# nothing\n')
      await assert.rejects(testnetBootstraps(dir), /lists no bootstrap address/)
      await writeFile(join(dir, BOOTSTRAP_FILE), '127.0.0.1:4000\nlocalhost\n')
      await assert.rejects(testnetBootstraps(dir), (err: unknown) => err instanceof TestnetStateError && /line 2/.test(err.message))
      await writeFile(join(dir, BOOTSTRAP_FILE), '127.0.0.1:99999\n')
      await assert.rejects(testnetBootstraps(dir), TestnetStateError)
    })
  })

  test('testnetDirFrom: the option wins, then BATCHAIN_TESTNET_DIR, else undefined; paths are absolute', () => {
    assert.equal(testnetDirFrom('/a/b', { [TESTNET_DIR_ENV]: '/c' }), '/a/b')
    assert.equal(testnetDirFrom(undefined, { [TESTNET_DIR_ENV]: '/c' }), '/c')
    assert.equal(testnetDirFrom(undefined, { [TESTNET_DIR_ENV]: '' }), undefined)
    assert.equal(testnetDirFrom(undefined, {}), undefined)
    assert.equal(testnetDirFrom('rel', {}), join(process.cwd(), 'rel'))
  })
})

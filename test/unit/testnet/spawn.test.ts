import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { TestnetStartError } from '../../../src/core/errors.js'
import { isProcessAlive, signalProcess, waitForExit } from '../../../src/testnet/liveness.js'
import { startDetached } from '../../../src/testnet/spawn.js'
import { tempDir } from '../../helpers/tmp.js'

test('processes that exit at once fail their start with their reason, every one of them (no lost exit event)', async () => {
  await using tmp = await tempDir('spawn')
  // Many at once: the log files' opens and closes queue on libuv's thread pool, so most children
  // exit while their start is still awaiting one. An exit heard by no listener then left the start
  // waiting forever with nothing keeping the loop alive (node:test reports that as cancelled).
  const starts = Array.from({ length: 200 }, async (_, i) => await startDetached({
    name: `p${i}`,
    argv: ['/bin/sh', '-c', `echo "no luck ${i}"; exit 3`],
    logFile: join(tmp.dir, `p${i}.log`),
    ready: () => true,
    readyText: () => undefined,
    timeoutMs: 60_000
  }).then(() => assert.fail(`p${i} started`), (err: unknown) => err))
  const errors = await Promise.all(starts)
  errors.forEach((err, i) => {
    assert.ok(err instanceof TestnetStartError, String(err))
    assert.equal(err.message, `p${i} exited (code 3) before it was ready: no luck ${i}`)
  })
})

test('a process that prints its ready line is left running on its own; one that never does is killed at the deadline', async () => {
  await using tmp = await tempDir('spawn')
  const started = await startDetached({
    name: 'ok',
    argv: ['/bin/sh', '-c', 'echo "{\\"event\\":\\"ready\\",\\"port\\":7}"; exec sleep 30'],
    logFile: join(tmp.dir, 'ok.log'),
    ready: line => line.event === 'ready' ? line.port : undefined
  })
  try {
    assert.equal(started.ready, 7)
    assert.ok(isProcessAlive(started.pid, started.procStart))
  } finally {
    signalProcess(started.pid, 'SIGKILL', { group: true })
  }
  assert.ok(await waitForExit(started.pid, started.procStart, 10_000))

  let pid = 0
  const err = await startDetached({
    name: 'mute',
    argv: ['/bin/sh', '-c', 'echo still thinking; exec sleep 30'],
    logFile: join(tmp.dir, 'mute.log'),
    ready: () => undefined,
    readyText: (_line, p) => { pid = p; return undefined },
    timeoutMs: 300
  }).catch((e: unknown) => e)
  assert.ok(err instanceof TestnetStartError, String(err))
  assert.equal(err.message, 'mute was not ready within 300 ms: still thinking')
  assert.ok(pid > 0 && !isProcessAlive(pid), 'killed before the start failed')
})

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { isProcessAlive, processStartTime } from '../../../src/testnet/index.js'
import { signalProcess, waitForExit } from '../../../src/testnet/liveness.js'

const linux = existsSync('/proc/self/stat')

test('this process is alive, with its own start time and not with another', () => {
  assert.equal(isProcessAlive(process.pid), true)
  const start = processStartTime(process.pid)
  if (linux) {
    assert.match(start ?? '', /^\d+$/)
    assert.equal(isProcessAlive(process.pid, start), true)
    assert.equal(isProcessAlive(process.pid, `${start}1`), false, 'a reused pid (other start time) is not ours')
  }
  assert.equal(isProcessAlive(0), false)
  assert.equal(isProcessAlive(-5), false)
  assert.equal(isProcessAlive(2 ** 22 + 1), false, 'above pid_max: no such process')
})

test('an exited but unreaped process (zombie) counts as dead', { skip: linux ? false : 'needs /proc' }, async () => {
  // sh starts a child in the background and execs into a sleep that never reaps it. The child
  // exits only once its parent has become that sleep (at most 10 s): had it exited earlier, sh
  // could have reaped it first (it did, once, on a loaded machine).
  const child = 'i=0; while [ "$(cat /proc/$PPID/comm)" != sleep ] && [ $i -lt 1000 ]; do i=$((i+1)); sleep 0.01; done'
  const parent = spawn('sh', ['-c', `sh -c '${child}' & echo $!; exec sleep 30`], { stdio: ['ignore', 'pipe', 'ignore'] })
  try {
    const zombie = await new Promise<number>(resolve => createInterface({ input: parent.stdout }).once('line', line => { resolve(Number(line)) }))
    assert.ok(await waitForExit(zombie, undefined, 10_000), 'the zombie counts as exited')
    assert.doesNotThrow(() => { process.kill(zombie, 0) }, 'kill(pid, 0) alone would call it alive')
    assert.equal(isProcessAlive(zombie), false)
  } finally {
    parent.kill('SIGKILL')
  }
})

test('waitForExit: true once the process exits, false when the time runs out', async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' })
  const pid = child.pid!
  const start = processStartTime(pid)
  try {
    assert.equal(await waitForExit(pid, start, 100, { intervalMs: 20 }), false)
    assert.equal(signalProcess(pid, 'SIGTERM'), true)
    assert.equal(await waitForExit(pid, start, 10_000, { intervalMs: 20 }), true)
    assert.equal(isProcessAlive(pid, start), false)
  } finally {
    child.kill('SIGKILL')
  }
})

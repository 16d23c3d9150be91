import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Worker } from 'node:worker_threads'
import { deadlineSignal } from '../../../src/core/abort.js'
import { AbortError, TimeoutError } from '../../../src/core/errors.js'

/** Blocks this thread's event loop for `ms` (as a long synchronous task or a starved process would). */
function block (ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

describe('deadlineSignal', () => {
  test('fires a TimeoutError after the deadline', async () => {
    const d = deadlineSignal(undefined, 20)
    // The deadline's timer does not hold the process open (unref): this one does, for the wait.
    const hold = setTimeout(() => {}, 5000)
    await new Promise(resolve => d.signal.addEventListener('abort', resolve, { once: true }))
    clearTimeout(hold)
    assert.ok(d.signal.reason instanceof TimeoutError)
    assert.equal(d.signal.reason.code, 'BATCHAIN_ERR_TIMEOUT')
    d.clear()
  })

  test('passes on the caller\'s abort, and clear() stops the deadline', async () => {
    const caller = new AbortController()
    const d = deadlineSignal(caller.signal, 10_000)
    caller.abort(new AbortError('stop'))
    assert.equal(d.signal.aborted, true)
    assert.equal((d.signal.reason as Error).message, 'stop')
    d.clear()

    const cleared = deadlineSignal(undefined, 10)
    cleared.clear()
    await new Promise(resolve => setTimeout(resolve, 40))
    assert.equal(cleared.signal.aborted, false, 'a cleared deadline never fires')
  })

  test('an answer that arrived while the event loop was blocked past the deadline still wins', async () => {
    // The answer comes from another thread 10 ms after the request, while this thread is blocked
    // for 300 ms: when it wakes, both the deadline's timer and the answer are due. Timers run
    // before I/O, so a deadline judged at once would abort first.
    const worker = new Worker('const { parentPort } = require("node:worker_threads"); parentPort.on("message", () => setTimeout(() => parentPort.postMessage("answer"), 10))', { eval: true })
    try {
      await new Promise(resolve => worker.once('online', resolve))
      const d = deadlineSignal(undefined, 50)
      const order: string[] = []
      d.signal.addEventListener('abort', () => order.push('deadline'), { once: true })
      const answered = new Promise<void>(resolve => worker.once('message', () => { order.push(d.signal.aborted ? 'answer after deadline' : 'answer'); resolve() }))
      // Blocked after the poll phase (in an immediate), as a busy process is: the next thing the
      // loop does is run due timers, before it polls for I/O again.
      setImmediate(() => { worker.postMessage('request'); block(300) })
      await answered
      d.clear()
      assert.deepEqual(order, ['answer'])
    } finally {
      await worker.terminate()
    }
  })
})

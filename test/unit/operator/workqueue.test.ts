import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { WorkQueue, backoffDelay } from '../../../src/operator/workqueue.js'
import { eventually } from '../../helpers/eventually.js'

const tick = async (ms = 5): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

describe('operator work queue', () => {
  test('a key added many times while queued runs once (events coalesce)', async () => {
    const runs: string[] = []
    const q = new WorkQueue({ process: async key => { runs.push(key); return undefined } })
    for (let i = 0; i < 5; i++) q.add('ns/a')
    q.add('ns/b')
    q.resume()
    await q.idle()
    assert.deepEqual(runs, ['ns/a', 'ns/b'])
    await q.stop()
  })

  test('never two runs of one key at once; an add during a run runs it again afterwards', async () => {
    let running = 0
    let maxRunning = 0
    let runs = 0
    let release: () => void = () => {}
    const q = new WorkQueue({
      process: async () => {
        running++; runs++
        maxRunning = Math.max(maxRunning, running)
        if (runs === 1) await new Promise<void>(resolve => { release = resolve })
        running--
        return undefined
      }
    })
    q.resume()
    q.add('k')
    await tick()
    q.add('k'); q.add('k')
    await tick()
    assert.equal(runs, 1)
    release()
    await tick(20)
    await q.idle()
    assert.equal(runs, 2)
    assert.equal(maxRunning, 1)
    await q.stop()
  })

  test('concurrency bounds the keys processed at once', async () => {
    let running = 0
    let max = 0
    const q = new WorkQueue({ concurrency: 3, process: async () => { running++; max = Math.max(max, running); await tick(10); running--; return undefined } })
    for (let i = 0; i < 20; i++) q.add(`k${i}`)
    q.resume()
    await q.idle()
    assert.equal(max, 3)
    assert.equal(q.processed, 20)
    await q.stop()
  })

  test('failures back off exponentially per key and reset on success', async () => {
    const at: number[] = []
    let n = 0
    const errors: number[] = []
    const q = new WorkQueue({
      baseDelayMs: 20,
      maxDelayMs: 1000,
      process: async () => { at.push(Date.now()); if (++n <= 3) throw new Error('boom'); return undefined },
      onError: (_k, _e, retry) => errors.push(retry)
    })
    q.resume()
    q.add('k')
    // Waits for the outcome, not for a fixed time: a loaded machine may run late.
    await eventually('three failures and a success', async () => at.length >= 4 ? true : undefined, { attempts: 3000, everyMs: 10, withinMs: 30_000 })
    assert.deepEqual(errors, [20, 40, 80])
    assert.equal(at.length, 4)
    assert.ok(at[3]! - at[2]! >= 75, `third retry waited ${at[3]! - at[2]!} ms`)
    assert.equal(q.failuresOf('k'), 0)
    await q.stop()
  })

  test('backoff result retries with the key\'s backoff; requeueAfterMs polls without counting a failure', async () => {
    const runs: number[] = []
    const q = new WorkQueue({ baseDelayMs: 10, process: async () => { runs.push(Date.now()); return runs.length === 1 ? { backoff: true } : runs.length === 2 ? { requeueAfterMs: 30 } : undefined } })
    q.resume()
    q.add('k')
    await eventually('three runs', async () => runs.length >= 3 ? true : undefined, { attempts: 3000, everyMs: 10, withinMs: 30_000 })
    await tick(50)
    assert.equal(runs.length, 3, 'and no fourth')
    assert.equal(q.failuresOf('k'), 0)
    await q.stop()
  })

  test('paused (standby): keys wait and nothing runs; resume runs them', async () => {
    const runs: string[] = []
    const q = new WorkQueue({ process: async key => { runs.push(key); return undefined } })
    q.add('a')
    await tick(20)
    assert.deepEqual(runs, [])
    q.resume()
    await q.idle()
    assert.deepEqual(runs, ['a'])
    q.pause()
    q.add('b')
    await tick(20)
    assert.deepEqual(runs, ['a'])
    await q.stop()
  })

  test('backoffDelay doubles up to the cap', () => {
    assert.deepEqual([0, 1, 2, 3, 10, 100].map(n => backoffDelay(n, 1000, 60_000)), [1000, 2000, 4000, 8000, 60_000, 60_000])
  })
})

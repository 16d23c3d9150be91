import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { fileURLToPath, pathToFileURL } from 'node:url'

/**
 * Failpoints read BATCHAIN_FAILPOINTS once per process, so each case runs in a child process of
 * its own (`node --import tsx`), which prints what it saw as one JSON line.
 */

const MODULE = pathToFileURL(fileURLToPath(new URL('../../../src/core/failpoints.ts', import.meta.url))).href

/**
 * Runs `body` (ESM, top-level await) in a child with `failpoint` and `settle` in scope.
 * settle(name, signal?) → 'resolved' or { code, name, message }. A ref'd interval keeps the child
 * alive while a failpoint sleeps (the sleep's own timer is unref'd).
 */
async function child (env: string | undefined, body: string): Promise<Record<string, unknown>> {
  const script = `
    import { failpoint, FailpointError } from ${JSON.stringify(MODULE)}
    import { BatchainError } from ${JSON.stringify(MODULE.replace(/failpoints\.ts$/, 'errors.ts'))}
    const keepAlive = setInterval(() => {}, 1000)
    const settle = async (name, signal) => {
      try { await failpoint(name, signal); return 'resolved' } catch (e) {
        return { code: e.code, name: e.constructor.name, message: e.message, failpointError: e instanceof FailpointError, batchainError: e instanceof BatchainError }
      }
    }
    const out = {}
    ${body}
    clearInterval(keepAlive)
    process.stdout.write(JSON.stringify(out) + '\\n')
  `
  const childEnv: NodeJS.ProcessEnv = { ...process.env }
  delete childEnv.BATCHAIN_FAILPOINTS
  if (env !== undefined) childEnv.BATCHAIN_FAILPOINTS = env
  const { stdout } = await new Promise<{ stdout: string, stderr: string }>((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: childEnv, timeout: 120_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`child failed: ${err.message}\nstdout: ${stdout}\nstderr: ${stderr}`))
      else resolve({ stdout, stderr })
    })
  })
  const line = stdout.trim().split('\n').at(-1) ?? ''
  return JSON.parse(line) as Record<string, unknown>
}

const THROWN = { code: 'BATCHAIN_ERR_FAILPOINT', name: 'FailpointError', failpointError: true, batchainError: true }

describe('failpoints (BATCHAIN_FAILPOINTS, one child process per case)', () => {
  test('x=throw makes failpoint("x") reject with BATCHAIN_ERR_FAILPOINT; other names pass', async () => {
    const out = await child('x=throw', `
      out.x = await settle('x')
      out.xAgain = await settle('x')
      out.other = await settle('y')
      out.prefix = await settle('x.y')
    `)
    assert.deepEqual(out.x, { ...THROWN, message: 'failpoint x' })
    assert.deepEqual(out.xAgain, out.x)
    assert.equal(out.other, 'resolved')
    assert.equal(out.prefix, 'resolved')
  })

  test('y=sleep(200) delays failpoint("y") (a timer of 0 fires first), then it resolves', async () => {
    const out = await child('y=sleep(200)', `
      const order = []
      setTimeout(() => { order.push('timer') }, 0)
      const unset = failpoint('not-set').then(() => { order.push('not-set') })
      const slept = settle('y').then(r => { order.push('y'); return r })
      await Promise.all([unset, slept])
      out.y = await slept
      out.order = order
    `)
    assert.equal(out.y, 'resolved')
    // An unset failpoint resolves at once (before any timer); the sleep only after the timer.
    assert.deepEqual(out.order, ['not-set', 'timer', 'y'])
  })

  test('an AbortSignal aborts a sleeping failpoint, and an aborted one does not sleep', async () => {
    const out = await child('y=sleep(9999999)', `
      const controller = new AbortController()
      const pending = settle('y', controller.signal)
      setTimeout(() => { controller.abort() }, 20)
      out.aborted = await pending
      out.already = await settle('y', AbortSignal.abort())
    `)
    assert.equal((out.aborted as { code?: string }).code, 'BATCHAIN_ERR_ABORTED')
    assert.equal((out.aborted as { batchainError?: boolean }).batchainError, true)
    assert.equal((out.aborted as { failpointError?: boolean }).failpointError, false)
    assert.equal((out.already as { code?: string }).code, 'BATCHAIN_ERR_ABORTED')
  })

  test('several entries, with spaces around them', async () => {
    const out = await child(' a.b-c = throw ;d=sleep(1);\tg9=throw  ;', `
      out.a = await settle('a.b-c')
      out.d = await settle('d')
      out.g = await settle('g9')
      out.none = await settle('a')
    `)
    assert.deepEqual(out.a, { ...THROWN, message: 'failpoint a.b-c' })
    assert.deepEqual(out.g, { ...THROWN, message: 'failpoint g9' })
    assert.equal(out.d, 'resolved')
    assert.equal(out.none, 'resolved')
  })

  test('unset: every failpoint passes', async () => {
    const out = await child(undefined, `
      out.x = await settle('x')
      out.y = await settle('y')
    `)
    assert.deepEqual(out, { x: 'resolved', y: 'resolved' })
  })

  test('garbage entries are ignored without crashing; the valid ones still work', async () => {
    const garbage = [
      'x=explode', 'y=sleep(abc)', 'z=sleep(12345678)', 'Up=throw', 'n=sleep(-1)', 'q=throw()', '=throw', 'throw',
      'w==throw', 'v=sleep(1', ';;;', '\u00ff=\u2603', 'ok=throw'
    ].join(';')
    const out = await child(garbage, `
      for (const name of ['x', 'y', 'z', 'Up', 'up', 'n', 'q', '', 'throw', 'w', 'v', 'ok']) out[name] = await settle(name)
    `)
    assert.deepEqual(out.ok, { ...THROWN, message: 'failpoint ok' })
    for (const name of ['x', 'y', 'z', 'Up', 'up', 'n', 'q', '', 'throw', 'w', 'v']) assert.equal(out[name], 'resolved', `failpoint ${JSON.stringify(name)}`)
  })

  test('entirely malformed text does not crash either', async () => {
    const out = await child('%%%((( ;= =; sleep(5) ;throw', `
      out.a = await settle('sleep')
      out.b = await settle('throw')
      out.c = await settle('%%%(((')
    `)
    assert.deepEqual(out, { a: 'resolved', b: 'resolved', c: 'resolved' })
  })

  test('the environment is read once: changing it later has no effect', async () => {
    const out = await child('x=throw', `
      out.before = await settle('x')
      process.env.BATCHAIN_FAILPOINTS = 'y=throw'
      out.after = await settle('x')
      out.y = await settle('y')
    `)
    assert.equal((out.before as { code?: string }).code, 'BATCHAIN_ERR_FAILPOINT')
    assert.equal((out.after as { code?: string }).code, 'BATCHAIN_ERR_FAILPOINT')
    assert.equal(out.y, 'resolved')
  })
})

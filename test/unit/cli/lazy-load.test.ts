import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { withTempDir } from '../../helpers/tmp.js'

/**
 * The CLI loads a heavy library only in the action that uses it (dynamic import): `batchain
 * download` or `upload` with a static node list, and the help of any command, must not pay for the
 * Kubernetes client, BullMQ, ioredis, express, bull-board or kadence (~50 MB of heap, ~0.5 s of
 * start-up, and a bigger heap for every major GC of a long transfer to mark).
 *
 * Each case runs the CLI from src/ (through tsx) in a child process whose module hooks
 * (fixtures/record-loads.mjs) write down every module resolved, then looks for those packages.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const MAIN = join(ROOT, 'src/cli/main.ts')
const RECORDER = new URL('./fixtures/record-loads.mjs', import.meta.url).href
const HEAVY = ['@kubernetes/client-node', 'bullmq', 'ioredis', 'express', '@bull-board/api', '@bull-board/express', '@kadenceproject/kadence']
/** A well-formed read capability of a file that no node holds. */
const CAPABILITY = `batchain:r1:${'a'.repeat(64)}:${'A'.repeat(43)}`
/** Nothing listens on port 1: a command's network calls fail at once. */
const NO_NODE = '127.0.0.1:1'

interface Run { code: number, stderr: string, heavy: string[] }

/** Runs `batchain ARGS` and returns the heavy packages it loaded. */
async function runRecorded (dir: string, args: string[]): Promise<Run> {
  const log = join(dir, 'loaded.txt')
  await writeFile(log, '')
  const register = `data:text/javascript,import { register } from 'node:module'; register(${JSON.stringify(RECORDER)}, { data: { log: ${JSON.stringify(log)} } })`
  // No Redis, DHT or testnet from the environment: the commands must see only --nodes.
  const env: NodeJS.ProcessEnv = { ...process.env, BATCHAIN_HOME: join(dir, 'home'), BATCHAIN_LOG_LEVEL: 'silent' }
  for (const name of ['BATCHAIN_REDIS', 'BATCHAIN_BOOTSTRAP', 'BATCHAIN_TESTNET_DIR', 'BATCHAIN_NODES']) delete env[name]
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', register, MAIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  const code = await new Promise<number>(resolve => child.on('close', (c, sig) => { resolve(c ?? (sig === null ? 1 : 128)) }))
  clearTimeout(timer)
  const loaded = (await readFile(log, 'utf8')).split('\n')
  assert.ok(loaded.some(url => url.endsWith('/src/cli/main.ts')), `the recorder saw nothing: ${stderr}`)
  const heavy = HEAVY.filter(pkg => loaded.some(url => url.includes(`/node_modules/${pkg}/`)))
  return { code, stderr, heavy }
}

describe('the CLI loads heavy modules only in the actions that use them', () => {
  test('help of the CLI, of download and of upload', async () => {
    await withTempDir('cli-lazy', async dir => {
      for (const args of [['--help'], ['download', '--help'], ['upload', '--help']]) {
        const run = await runRecorded(dir, args)
        assert.equal(run.code, 0, run.stderr)
        assert.deepEqual(run.heavy, [], `batchain ${args.join(' ')} loaded ${run.heavy.join(', ')}`)
      }
    })
  })

  test('upload with --nodes', async () => {
    await withTempDir('cli-lazy', async dir => {
      const file = join(dir, 'file.txt')
      await writeFile(file, 'hello')
      const run = await runRecorded(dir, ['upload', file, '--nodes', NO_NODE])
      // The action ran: one node cannot take 4+2 pieces.
      assert.match(run.stderr, /BATCHAIN_ERR_NOT_ENOUGH_NODES/)
      assert.deepEqual(run.heavy, [], `upload --nodes loaded ${run.heavy.join(', ')}`)
    })
  })

  test('download with --nodes', async () => {
    await withTempDir('cli-lazy', async dir => {
      const run = await runRecorded(dir, ['download', CAPABILITY, '--nodes', NO_NODE, '-o', join(dir, 'out')])
      assert.doesNotMatch(run.stderr, /usage|BATCHAIN_ERR_INVALID/i)
      assert.deepEqual(run.heavy, [], `download --nodes loaded ${run.heavy.join(', ')}`)
    })
  })
})

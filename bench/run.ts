/**
 * Benchmark runner: `npm run bench` runs every group bench/groups/NAME.ts (default export: a
 * BenchGroup, see bench/harness.ts) in name order; `npm run bench -- NAME [NAME...]` runs only those.
 * Files starting with `_` are helpers, not groups.
 *
 * stdout: one JSON line per figure, nothing else. stderr: progress.
 * A failed group prints {"name":"NAME.error","value":0,"unit":"error","error":"..."}, the other groups
 * still run, and the exit code is 1. SIGINT aborts ctx.signal (a second SIGINT exits at once).
 * Each group gets a fresh ctx.tmpDir under os.tmpdir(), removed afterwards (BENCH_KEEP_TMP=1 keeps it).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { BenchContext, BenchGroup, Figure } from './harness.js'

const groupsDir = join(dirname(fileURLToPath(import.meta.url)), 'groups')

function log (message: string): void {
  process.stderr.write(`[bench] ${message}\n`)
}

function printFigure (figure: Figure): void {
  process.stdout.write(JSON.stringify(figure) + '\n')
}

function checkFigure (group: string, figure: Figure): void {
  if (typeof figure !== 'object' || figure === null) throw new TypeError(`${group}: emit() needs a figure object`)
  if (typeof figure.name !== 'string' || figure.name === '') throw new TypeError(`${group}: figure without a name`)
  if (typeof figure.value !== 'number' || !Number.isFinite(figure.value)) {
    throw new TypeError(`${group}: figure ${figure.name} has a non-finite value ${String(figure.value)}`)
  }
  if (typeof figure.unit !== 'string' || figure.unit === '') throw new TypeError(`${group}: figure ${figure.name} has no unit`)
}

async function listGroups (): Promise<string[]> {
  const entries = await readdir(groupsDir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return []
    throw err
  })
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') && !e.name.startsWith('_'))
    .map((e) => basename(e.name, '.ts'))
    .sort()
}

function errorMessage (err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`
  return String(err)
}

async function runGroup (name: string, signal: AbortSignal): Promise<boolean> {
  const started = performance.now()
  const dir = await mkdtemp(join(tmpdir(), `batchain-bench-${name}-`))
  let figures = 0
  log(`${name}: start (tmp ${dir})`)
  try {
    const mod = await import(pathToFileURL(join(groupsDir, `${name}.ts`)).href) as { default?: unknown }
    if (typeof mod.default !== 'function') throw new TypeError(`bench/groups/${name}.ts has no default export BenchGroup`)
    const group = mod.default as BenchGroup
    const ctx: BenchContext = {
      emit: (figure) => {
        checkFigure(name, figure)
        figures++
        printFigure(figure)
      },
      tmpDir: dir,
      signal
    }
    await group(ctx)
    signal.throwIfAborted()
    log(`${name}: done, ${figures} figures in ${((performance.now() - started) / 1000).toFixed(1)}s`)
    return true
  } catch (err) {
    const message = errorMessage(err)
    log(`${name}: FAILED after ${((performance.now() - started) / 1000).toFixed(1)}s: ${message}`)
    printFigure({ name: `${name}.error`, value: 0, unit: 'error', error: err instanceof Error ? err.message : String(err) })
    return false
  } finally {
    if (process.env.BENCH_KEEP_TMP === '1') {
      log(`${name}: kept ${dir}`)
    } else {
      await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
    }
  }
}

async function main (argv: string[]): Promise<number> {
  const available = await listGroups()
  if (argv.includes('--help') || argv.includes('-h') || argv.includes('--list')) {
    process.stderr.write(`usage: npm run bench [-- GROUP...]\ngroups: ${available.join(' ') || '(none)'}\n`)
    return 0
  }
  const requested = argv.map((a) => basename(a, '.ts'))
  const unknown = requested.filter((n) => !available.includes(n))
  if (unknown.length > 0) {
    log(`unknown group(s): ${unknown.join(', ')}; available: ${available.join(', ') || '(none)'}`)
    return 2
  }
  const groups = requested.length > 0 ? requested : available
  if (groups.length === 0) {
    log('no benchmark groups in bench/groups')
    return 0
  }

  const controller = new AbortController()
  let interrupted = false
  const onSigint = (): void => {
    if (interrupted) {
      log('second SIGINT: exiting now')
      process.exit(130)
    }
    interrupted = true
    log('SIGINT: aborting (press Ctrl-C again to exit at once)')
    controller.abort(new Error('interrupted (SIGINT)'))
  }
  process.on('SIGINT', onSigint)

  let failed = 0
  try {
    for (const name of groups) {
      if (controller.signal.aborted) {
        log(`${name}: skipped (interrupted)`)
        continue
      }
      if (!await runGroup(name, controller.signal)) failed++
    }
  } finally {
    process.off('SIGINT', onSigint)
  }
  if (interrupted) return 130
  if (failed > 0) {
    log(`${failed} of ${groups.length} group(s) failed`)
    return 1
  }
  return 0
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
}, (err: unknown) => {
  log(`runner failed: ${errorMessage(err)}`)
  process.exitCode = 1
})

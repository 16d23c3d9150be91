import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The CLI as users run it: bin/batchain.js over the compiled dist/ (scripts/test.sh builds first). */
export const CLI = fileURLToPath(new URL('../../bin/batchain.js', import.meta.url))
const DIST_MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))

export function assertBuilt (): void {
  if (!existsSync(DIST_MAIN)) throw new Error('dist/ is missing: run `npm run build` (scripts/test.sh does)')
}

export interface CliResult {
  code: number
  stdout: string
  stderr: string
  /** stdout parsed as JSON when it is one JSON document (shape depends on the command; tests read fields directly). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any
}

/** Runs `batchain ARGS` to completion (bounded by timeoutMs) and captures its output. */
export async function runCli (args: string[], options: { env?: NodeJS.ProcessEnv, timeoutMs?: number } = {}): Promise<CliResult> {
  assertBuilt()
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 5 * 60_000)
  const code = await new Promise<number>(resolve => child.on('close', (c, sig) => { resolve(c ?? (sig === null ? 1 : 128)) }))
  clearTimeout(timer)
  let json: unknown
  try { json = JSON.parse(stdout) } catch { json = undefined }
  return { code, stdout, stderr, json }
}

import { BatchainError, errorCode, errorMessage } from '../core/errors.js'

/** How a command reports: one JSON document on stdout with --json, human text otherwise. */
export interface Output {
  readonly json: boolean
  /** The command's result: printed as JSON, or through `human` as text. */
  result: (value: unknown, human: (value: never) => string) => void
  /** Progress and notes for people; silent with --json (stdout is for the document). */
  info: (line: string) => void
}

export function createOutput (json: boolean): Output {
  return {
    json,
    result: (value, human) => {
      process.stdout.write(json ? JSON.stringify(value) + '\n' : human(value as never) + '\n')
    },
    info: line => { if (!json) process.stderr.write(line + '\n') }
  }
}

/** Reports a failure: one line on stderr always; with --json also {"error": {...}} on stdout. Returns the exit code. */
export function reportError (err: unknown, json: boolean): number {
  const code = errorCode(err)
  const message = errorMessage(err)
  process.stderr.write(`batchain: ${message} (${code})\n`)
  if (json) {
    const details = err instanceof BatchainError ? err.details : undefined
    process.stdout.write(JSON.stringify({ error: { code, message, ...(details === undefined ? {} : { details }) } }) + '\n')
  }
  if (process.env.BATCHAIN_DEBUG === '1' && err instanceof Error) process.stderr.write(`${err.stack ?? ''}\n`)
  return code === 'BATCHAIN_ERR_ABORTED' ? 130 : 1
}

/** Peak resident memory of this process so far, in bytes. */
export function peakRss (): number {
  return process.resourceUsage().maxRSS * 1024
}

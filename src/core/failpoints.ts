import { sleep } from './abort.js'
import { BatchainError } from './errors.js'

/**
 * Failpoints: named places in the code where a test injects a fault into a real, separately
 * started process through its environment, as etcd's gofail and TiKV's fail-rs do. A test that
 * must kill a worker *between* two steps of a repair cannot hit that window by timing alone; with
 * `BATCHAIN_FAILPOINTS="repair.after-place=sleep(5000)"` the worker waits there, and the test
 * kills it there.
 *
 * Syntax: `name=action` pairs separated by ';'. Actions: `sleep(MS)` (abortable), `throw`.
 * Unset (production), a failpoint is one Map lookup.
 */
export class FailpointError extends BatchainError {
  override readonly code = 'BATCHAIN_ERR_FAILPOINT'
}

type Action = { kind: 'sleep', ms: number } | { kind: 'throw' }

let parsed: Map<string, Action> | undefined

function actions (): Map<string, Action> {
  if (parsed !== undefined) return parsed
  parsed = new Map()
  for (const part of (process.env.BATCHAIN_FAILPOINTS ?? '').split(';')) {
    const match = /^\s*([a-z0-9.-]+)\s*=\s*(?:sleep\((\d{1,7})\)|(throw))\s*$/.exec(part)
    if (match === null) continue
    parsed.set(match[1] as string, match[3] !== undefined ? { kind: 'throw' } : { kind: 'sleep', ms: Number(match[2]) })
  }
  return parsed
}

/** Runs the action configured for `name`, if any. */
export async function failpoint (name: string, signal?: AbortSignal): Promise<void> {
  const action = actions().get(name)
  if (action === undefined) return
  if (action.kind === 'throw') throw new FailpointError(`failpoint ${name}`)
  await sleep(action.ms, signal === undefined ? {} : { signal })
}

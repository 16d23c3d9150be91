import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import type { TestContext } from 'node:test'

/** True when running under CI (CI=true, as .ci/run sets it). */
export function isCI (): boolean {
  return process.env.CI === 'true'
}

/**
 * Guards a test that needs something outside the repo (redis-server, chromium, root, network
 * namespaces...). When `available` is false:
 * - under CI=true the test FAILS: this throws, because CI is expected to provide every prerequisite
 *   (scripts/test.sh installs them) and a silently skipped test hides a broken setup;
 * - otherwise the test is skipped with the reason and this returns false.
 * node:test's t.skip() does not stop the test function, so return when this returns false:
 *
 *   if (!requirePrerequisite('redis-server', hasCommand('redis-server'), t)) return
 */
export function requirePrerequisite (name: string, available: boolean, t: TestContext, hint?: string): boolean {
  if (available) return true
  const reason = `prerequisite missing: ${name}${hint !== undefined ? ` (${hint})` : ''}`
  if (isCI()) {
    throw new Error(`${reason}; CI=true requires every prerequisite, so this test fails instead of being skipped`)
  }
  t.skip(reason)
  return false
}

/** True when an executable named cmd is on PATH (or cmd is a path to an executable). */
export function hasCommand (cmd: string): boolean {
  const candidates = cmd.includes('/')
    ? [cmd]
    : (process.env.PATH ?? '').split(delimiter).filter((p) => p !== '').map((p) => join(p, cmd))
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK)
      return true
    } catch {
      // not here
    }
  }
  return false
}

/** True when the process runs as root (needed for network namespaces, apt-get). */
export function isRoot (): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0
}

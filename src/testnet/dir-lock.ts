import { open, readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { TestnetRunningError } from '../core/errors.js'
import { isProcessAlive, processStartTime } from './liveness.js'

export const LOCK_FILE = 'testnet.lock'

/** A lock file without a readable holder is taken over only when older than this (its writer may be mid-write). */
const UNREADABLE_LOCK_GRACE_MS = 5000

/**
 * Holds DIR/testnet.lock while `up` or `down` changes a testnet, so two of them never interleave.
 * A lock left by a process that is gone is taken over. Throws TestnetRunningError
 * (BATCHAIN_ERR_TESTNET_RUNNING) when a live process holds it. Returns the release function.
 */
export async function lockTestnetDir (dir: string): Promise<() => Promise<void>> {
  const file = join(dir, LOCK_FILE)
  if (await tryCreate(file)) return async () => { await rm(file, { force: true }) }
  const holder = await readHolder(file)
  if (holder === 'young' || (holder !== undefined && isProcessAlive(holder.pid, holder.procStart))) {
    const who = holder === 'young' ? 'another batchain testnet command' : `another batchain testnet command (pid ${holder.pid})`
    throw new TestnetRunningError(`${who} is changing ${dir}; wait for it, or remove ${file} if it is gone`, { details: { dir } })
  }
  // Its holder is gone: take it over (one attempt; a racing taker makes this fail cleanly).
  await rm(file, { force: true })
  if (await tryCreate(file)) return async () => { await rm(file, { force: true }) }
  throw new TestnetRunningError(`another batchain testnet command took ${file} at the same time; try again`, { details: { dir } })
}

async function tryCreate (file: string): Promise<boolean> {
  let handle
  try {
    handle = await open(file, 'wx', 0o644)
  } catch (err) {
    if ((err as { code?: unknown }).code === 'EEXIST') return false
    throw err
  }
  try {
    await handle.writeFile(JSON.stringify({ pid: process.pid, procStart: processStartTime(process.pid) }) + '\n')
  } finally {
    await handle.close()
  }
  return true
}

async function readHolder (file: string): Promise<{ pid: number, procStart?: string } | 'young' | undefined> {
  try {
    const value = JSON.parse(await readFile(file, 'utf8')) as { pid?: unknown, procStart?: unknown }
    if (typeof value.pid === 'number') return typeof value.procStart === 'string' ? { pid: value.pid, procStart: value.procStart } : { pid: value.pid }
  } catch {
    // Empty (its writer is mid-write, or died there) or garbage.
  }
  try {
    return Date.now() - (await stat(file)).mtimeMs < UNREADABLE_LOCK_GRACE_MS ? 'young' : undefined
  } catch {
    return undefined
  }
}

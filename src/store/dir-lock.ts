import { open, readFile, unlink } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { StoreError } from '../core/errors.js'
import { fsCode } from './disk-fs.js'

/**
 * One store per directory. Two stores on one directory would each count the other's
 * pieces wrong, and the second one's open-time recovery would delete the first one's
 * in-flight temp files. Node has no flock, so the lock is a `LOCK` file holding the
 * owner's pid: a lock whose pid is not alive (or is our own pid, as after a container
 * restart where the node is pid 1 again) is stale and taken over. Within one process a
 * set of open directories catches a double open the pid cannot tell apart.
 */

const openHere = new Set<string>()

export interface DirLock {
  release: () => Promise<void>
}

export async function lockDir (dir: string): Promise<DirLock> {
  const key = resolve(dir)
  if (openHere.has(key)) throw new StoreError('Store directory is already open in this process', { details: { dir } })
  openHere.add(key)
  const path = join(dir, 'LOCK')
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        const fh = await open(path, 'wx')
        try { await fh.writeFile(`${process.pid}\n`) } finally { await fh.close() }
        break
      } catch (err) {
        if (fsCode(err) !== 'EEXIST' || attempt > 0) throw err
        const holder = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10)
        if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
          throw new StoreError(`Store directory is in use by process ${holder}`, { details: { dir, pid: holder } })
        }
        await unlink(path).catch(() => {})
      }
    }
  } catch (err) {
    openHere.delete(key)
    throw err
  }
  let released = false
  return {
    release: async () => {
      if (released) return
      released = true
      await unlink(path).catch(() => {})
      openHere.delete(key)
    }
  }
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists but belongs to someone else — still alive.
    return fsCode(err) === 'EPERM'
  }
}

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TempDir {
  /** Absolute path of the new, empty directory. */
  dir: string
  /** Removes the directory and everything in it. Safe to call more than once. */
  [Symbol.asyncDispose]: () => Promise<void>
}

/**
 * A fresh directory under `parent` (default os.tmpdir()) named batchain-PREFIX-XXXXXX.
 * Use with `await using tmp = await tempDir('store')` or call `tmp[Symbol.asyncDispose]()` in a
 * finally / t.after; or use withTempDir.
 * Set BATCHAIN_KEEP_TMP=1 to keep the directories for inspection (their paths go to stderr).
 */
export async function tempDir (prefix = 'test', parent = tmpdir()): Promise<TempDir> {
  const safe = prefix.replace(/[^A-Za-z0-9._-]/g, '_')
  const dir = await mkdtemp(join(parent, `batchain-${safe}-`))
  return {
    dir,
    async [Symbol.asyncDispose] () {
      if (process.env.BATCHAIN_KEEP_TMP === '1') {
        process.stderr.write(`kept temp dir ${dir}\n`)
        return
      }
      await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
    }
  }
}

/** Runs fn with a fresh temp directory and removes it afterwards, whether fn succeeds or throws. */
export async function withTempDir<T> (prefix: string, fn: (dir: string) => Promise<T> | T): Promise<T> {
  const tmp = await tempDir(prefix)
  try {
    return await fn(tmp.dir)
  } finally {
    await tmp[Symbol.asyncDispose]()
  }
}

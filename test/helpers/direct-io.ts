import { statfs } from 'node:fs/promises'
import type { TestContext } from 'node:test'
import { O_DIRECT } from '../../src/core/direct-io.js'
import { requirePrerequisite } from './ci.js'
import { tempDir } from './tmp.js'

/** File systems known to take O_DIRECT: ext4, xfs, btrfs (statfs magic numbers). */
const DIRECT_CAPABLE = new Set([0xef53, 0x58465342, 0x9123683e])

/** A fresh temp directory removed after the test. */
export async function testDir (t: TestContext, name = 'direct'): Promise<string> {
  const tmp = await tempDir(name)
  t.after(async () => { await tmp[Symbol.asyncDispose]() })
  return tmp.dir
}

/** Skips (fails under CI) unless the file system of `path` takes O_DIRECT. */
export async function requireDirect (t: TestContext, path: string): Promise<boolean> {
  const fsType = (await statfs(path)).type
  return requirePrerequisite('a temp directory on ext4, xfs or btrfs (for O_DIRECT)', O_DIRECT !== undefined && DIRECT_CAPABLE.has(fsType), t, `file system type 0x${fsType.toString(16)}`)
}

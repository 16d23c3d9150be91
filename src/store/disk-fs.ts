import { randomBytes } from 'node:crypto'
import { open, rename, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { BatchainError, DiskFullError, StoreError } from '../core/errors.js'
import type { PieceId } from '../core/ids.js'

/**
 * File-system primitives of the disk store: the layout, durable writes and the mapping
 * of raw fs errors to our error classes. Only piece ids validated by `toPieceId` and
 * random hex ever become path components, which is what keeps paths inside `dir`.
 */

/** Where everything lives under the store's directory. */
export class DiskLayout {
  readonly dir: string
  readonly pieces: string
  readonly tmp: string

  constructor (dir: string) {
    this.dir = dir
    this.pieces = join(dir, 'pieces')
    this.tmp = join(dir, 'tmp')
  }

  /** Fan-out directory of a piece: 256 prefixes keep directories small on large nodes. */
  prefixDir (id: PieceId): string {
    return join(this.pieces, id.slice(0, 2))
  }

  dataPath (id: PieceId): string {
    return join(this.prefixDir(id), id)
  }

  metaPath (id: PieceId): string {
    return join(this.prefixDir(id), `${id}.meta`)
  }

  /** A fresh temp path; random so a crashed write's leftover can never collide with a new one. */
  tempPath (id: PieceId, kind: 'data' | 'meta'): string {
    return join(this.tmp, `${id}.${randomBytes(8).toString('hex')}.${kind}`)
  }
}

/** fs error code of a thrown value, if any. */
export function fsCode (err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

export function isNotFound (err: unknown): boolean {
  return fsCode(err) === 'ENOENT'
}

/**
 * Maps an fs failure to our errors: ENOSPC/EDQUOT → DiskFullError, anything else that is
 * not already ours → StoreError. The raw error stays as `cause`.
 */
export function storeFsError (err: unknown, message: string, details: Record<string, unknown>): BatchainError {
  if (err instanceof BatchainError) return err
  const code = fsCode(err)
  if (code === 'ENOSPC' || code === 'EDQUOT') return new DiskFullError(undefined, { cause: err, details: { ...details, code } })
  return new StoreError(message, { cause: err, details: { ...details, code } })
}

/** Writes all of `data` at `position` (a positional write may be short; loop until done). */
export async function writeFully (fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0
  while (done < data.byteLength) {
    const { bytesWritten } = await fh.write(data, done, data.byteLength - done, position + done)
    done += bytesWritten
  }
}

/** Reads exactly `length` bytes at `position`; returns fewer only if the file is shorter. */
export async function readFully (fh: FileHandle, length: number, position: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length)
  let done = 0
  while (done < length) {
    const { bytesRead } = await fh.read(buffer, done, length - done, position + done)
    if (bytesRead === 0) break
    done += bytesRead
  }
  return done === length ? buffer : buffer.subarray(0, done)
}

/**
 * Makes a directory's entries (renames, unlinks) durable. Some platforms and file
 * systems refuse fsync on a directory; there is nothing better to do there, so those
 * refusals are ignored.
 */
export async function fsyncDir (path: string): Promise<void> {
  const fh = await open(path, 'r')
  try {
    await fh.sync()
  } catch (err) {
    const code = fsCode(err)
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'EBADF') throw err
  } finally {
    await fh.close()
  }
}

/** Creates `path` (which must not exist) holding `data`, fsynced when asked. Removes it on failure. */
export async function writeFileDurably (path: string, data: Uint8Array, fsync: boolean): Promise<void> {
  try {
    const fh = await open(path, 'wx')
    try {
      await writeFully(fh, data, 0)
      if (fsync) await fh.sync()
    } finally {
      await fh.close()
    }
  } catch (err) {
    await removeQuietly(path)
    throw err
  }
}

/** Writes a complete small file to `tempPath` and renames it over `finalPath`: readers see the old or the new file, never a torn one. */
export async function writeFileAtomic (tempPath: string, finalPath: string, data: Uint8Array, fsync: boolean): Promise<void> {
  await writeFileDurably(tempPath, data, fsync)
  try {
    await rename(tempPath, finalPath)
  } catch (err) {
    await removeQuietly(tempPath)
    throw err
  }
}

/** Best-effort removal for cleanup paths, where the original error is the one worth reporting. */
export async function removeQuietly (path: string): Promise<void> {
  await rm(path, { force: true, recursive: true }).catch(() => {})
}

import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { throwIfAborted } from '../core/abort.js'
import { isPieceId, type PieceId } from '../core/ids.js'
import type { Logger } from '../core/logger.js'
import { fsyncDir, isNotFound, removeQuietly, type DiskLayout } from './disk-fs.js'
import { decodeMeta } from './meta-format.js'

/**
 * Open-time recovery of a disk store: brings the directory back to "every piece is
 * complete and valid" after any crash, and rebuilds the in-memory index (id → size)
 * from what is actually on disk, so capacity accounting never trusts a counter that a
 * crash could have left stale.
 *
 * Given the put order (data and metadata renamed in, then one directory fsync as the commit
 * point; see disk-store.ts), the possible leftovers are:
 * - anything in tmp/ — an unfinished put or metadata rewrite → removed;
 * - a data file without metadata — crash before a put's commit (or between its renames), or
 *   during a delete → removed;
 * - metadata without a data file — crash before a put's commit, the renames having reached
 *   the disk out of order; or damage → removed;
 * - metadata that does not parse or checksum, or a data file whose length differs from the
 *   metadata — damage from outside our order → removed.
 * Removal goes metadata first, then data (the delete order), so a crash during recovery
 * leaves only states recovery handles. Names we did not create are left alone.
 */

const PREFIX = /^[0-9a-f]{2}$/
const PIECE_ENTRY = /^([0-9a-f]{64})(\.meta)?$/
/** Pieces checked at once: enough to overlap I/O, few enough not to exhaust file descriptors. */
const SCAN_CONCURRENCY = 32

export interface RecoveryResult {
  /** Valid pieces and their sizes. */
  pieces: Map<PieceId, number>
  /** Ids removed as incomplete or invalid. */
  removed: PieceId[]
  /** Temp entries removed. */
  tempRemoved: number
}

export async function recoverStore (layout: DiskLayout, leafSize: number, fsync: boolean, logger: Logger, signal?: AbortSignal): Promise<RecoveryResult> {
  await mkdir(layout.pieces, { recursive: true })
  await mkdir(layout.tmp, { recursive: true })
  // Pre-create every fan-out directory so a put never creates (and must fsync) a parent.
  for (let i = 0; i < 256; i++) await mkdir(join(layout.pieces, i.toString(16).padStart(2, '0')), { recursive: true })
  if (fsync) await fsyncDir(layout.pieces)

  const tempEntries = await readdir(layout.tmp)
  for (const name of tempEntries) await removeQuietly(join(layout.tmp, name))
  if (tempEntries.length > 0) logger.info({ count: tempEntries.length }, 'removed leftover temp files')

  const result: RecoveryResult = { pieces: new Map(), removed: [], tempRemoved: tempEntries.length }
  for (const entry of await readdir(layout.pieces, { withFileTypes: true })) {
    throwIfAborted(signal)
    const prefix = entry.name
    if (!entry.isDirectory() || !PREFIX.test(prefix)) continue
    const prefixDir = join(layout.pieces, prefix)
    const found = new Map<PieceId, { data: boolean, meta: boolean }>()
    for (const name of await readdir(prefixDir)) {
      const match = PIECE_ENTRY.exec(name)
      const id = match?.[1]
      if (id === undefined || !isPieceId(id) || !id.startsWith(prefix)) continue
      const entry = found.get(id) ?? { data: false, meta: false }
      if (match?.[2] === undefined) entry.data = true
      else entry.meta = true
      found.set(id, entry)
    }
    const ids = [...found.keys()]
    let removedHere = 0
    for (let i = 0; i < ids.length; i += SCAN_CONCURRENCY) {
      await Promise.all(ids.slice(i, i + SCAN_CONCURRENCY).map(async id => {
        const entry = found.get(id) as { data: boolean, meta: boolean }
        const verdict = await checkPiece(layout, id, entry, leafSize)
        if (verdict.ok) {
          result.pieces.set(id, verdict.size)
        } else if (verdict.remove) {
          logger.warn({ id, reason: verdict.reason }, 'removing incomplete or invalid piece')
          await removePieceFiles(layout, id)
          result.removed.push(id)
          removedHere++
        } else {
          // Unreadable for a reason that may be transient (EIO, EACCES): never delete
          // bytes we merely failed to read; leave them for the operator, unindexed.
          logger.error({ id, reason: verdict.reason }, 'piece cannot be read; ignoring it')
        }
      }))
    }
    if (removedHere > 0 && fsync) await fsyncDir(prefixDir)
  }
  return result
}

type Verdict = { ok: true, size: number } | { ok: false, remove: boolean, reason: string }

async function checkPiece (layout: DiskLayout, id: PieceId, entry: { data: boolean, meta: boolean }, leafSize: number): Promise<Verdict> {
  if (!entry.meta) return { ok: false, remove: true, reason: 'data without metadata (interrupted put or delete)' }
  if (!entry.data) return { ok: false, remove: true, reason: 'metadata without data' }
  let raw: Buffer
  let dataSize: number
  let isFile: boolean
  try {
    raw = await readFile(layout.metaPath(id))
    const st = await stat(layout.dataPath(id))
    dataSize = st.size
    isFile = st.isFile()
  } catch (err) {
    if (isNotFound(err)) return { ok: false, remove: true, reason: 'file vanished during scan' }
    return { ok: false, remove: false, reason: (err as Error).message }
  }
  let size: number
  try {
    size = decodeMeta(id, raw, leafSize).size
  } catch (err) {
    return { ok: false, remove: true, reason: (err as Error).message }
  }
  if (!isFile) return { ok: false, remove: false, reason: 'data path is not a regular file' }
  if (dataSize !== size) return { ok: false, remove: true, reason: `data is ${dataSize} bytes, metadata says ${size}` }
  return { ok: true, size }
}

/** Deletes a piece's files, metadata first so a crash in between leaves an orphan data file (cleaned at open), never a dangling commit. */
export async function removePieceFiles (layout: DiskLayout, id: PieceId): Promise<void> {
  await unlink(layout.metaPath(id)).catch(ignoreNotFound)
  await unlink(layout.dataPath(id)).catch(ignoreNotFound)
}

function ignoreNotFound (err: unknown): void {
  if (!isNotFound(err)) throw err
}

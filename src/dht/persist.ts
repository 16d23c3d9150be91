import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/**
 * Small JSON state files (routing table, records held for others), written so that a crash leaves
 * either the old file or the new one, never a torn one: temp file in the same directory, fsync,
 * rename over the old name, fsync the directory.
 */

export async function writeJsonAtomic (file: string, value: unknown): Promise<void> {
  const dir = dirname(file)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const temp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  try {
    const handle = await open(temp, 'w', 0o600)
    try {
      await handle.writeFile(JSON.stringify(value), 'utf8')
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temp, file)
  } catch (err) {
    await unlink(temp).catch(() => {})
    throw err
  }
  try {
    const handle = await open(dir, 'r')
    try { await handle.sync() } finally { await handle.close() }
  } catch {
    // Some platforms cannot fsync a directory; the file itself is synced.
  }
}

/** The parsed file, or undefined when it does not exist. Throws on unreadable or non-JSON content. */
export async function readJsonFile (file: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  return JSON.parse(text) as unknown
}

/**
 * Runs `save` at most once per `delayMs` after changes (debounced), never two at once, and once
 * more on flush() if anything changed since the last run. Errors go to `onError`.
 */
export class DebouncedSaver {
  private timer: NodeJS.Timeout | undefined
  private queue: Promise<void> = Promise.resolve()
  private dirty = false
  private stopped = false

  constructor (private readonly save: () => Promise<void>, private readonly delayMs: number, private readonly onError: (err: unknown) => void) {}

  /** Something changed: save within delayMs. */
  touch (): void {
    if (this.stopped) return
    this.dirty = true
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.run()
    }, this.delayMs)
    this.timer.unref()
  }

  /** Saves now if anything changed; resolves when written. */
  async flush (): Promise<void> {
    if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined }
    await this.run()
  }

  /** Final flush; later touches are ignored. */
  async stop (): Promise<void> {
    this.stopped = true
    await this.flush()
  }

  /** Saves are chained, so two never overlap and the last one sees the latest state. */
  private async run (): Promise<void> {
    this.queue = this.queue.then(async () => {
      if (!this.dirty) return
      this.dirty = false
      try {
        await this.save()
      } catch (err) {
        this.onError(err)
      }
    })
    await this.queue
  }
}

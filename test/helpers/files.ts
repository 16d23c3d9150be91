import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { finished } from 'node:stream/promises'

/** Writes `size` random bytes to `path` in 1 MiB chunks (memory stays flat). */
export async function writeRandomFile (path: string, size: number): Promise<void> {
  const out = createWriteStream(path)
  let left = size
  while (left > 0) {
    const n = Math.min(left, 1 << 20)
    if (!out.write(randomBytes(n))) await new Promise<void>(resolve => { out.once('drain', () => { resolve() }) })
    left -= n
  }
  out.end()
  await finished(out)
}

export async function sha256File (path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

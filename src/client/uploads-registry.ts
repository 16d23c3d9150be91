import { appendFile, mkdir, readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'

/** One upload as remembered on this machine (the prototype's `-l`). The file is the user's keyring: mode 0600. */
export interface UploadRecord {
  capability: string
  manifestId: string
  name: string
  size: number
  sha256: string
  dataShards: number
  parityShards: number
  uploadedAt: string
}

/** Where the CLI keeps its identity and upload list: $BATCHAIN_HOME, else ~/.batchain. */
export function batchainHome (env: NodeJS.ProcessEnv = process.env): string {
  return env.BATCHAIN_HOME ?? join(homedir(), '.batchain')
}

export async function recordUpload (home: string, record: UploadRecord): Promise<void> {
  await mkdir(home, { recursive: true, mode: 0o700 })
  await appendFile(join(home, 'uploads.jsonl'), JSON.stringify(record) + '\n', { mode: 0o600 })
}

/** Recorded uploads, oldest first; lines that do not parse (a torn write) are skipped. */
export async function listUploads (home: string): Promise<UploadRecord[]> {
  let text: string
  try {
    text = await readFile(join(home, 'uploads.jsonl'), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const out: UploadRecord[] = []
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    try { out.push(JSON.parse(line) as UploadRecord) } catch { /* torn line */ }
  }
  return out
}

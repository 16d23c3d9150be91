import { readFile, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { TestnetNotFoundError, TestnetStateError, errorMessage } from '../core/errors.js'
import type { DhtAddress } from '../dht/types.js'
import { formatContact, parseContact } from '../transfer/contact.js'
import { writeFileAtomic } from './atomic-file.js'
import { BOOTSTRAP_FILE, REDIS_URL_FILE, STATE_FILE, TESTNET_STATE_VERSION, testnetStateSchema, type TestnetState } from './state.js'

/** Environment variable naming a testnet directory (the default of client commands' --testnet). */
export const TESTNET_DIR_ENV = 'BATCHAIN_TESTNET_DIR'

/** Largest state or bootstrap file read (a testnet of thousands of processes is far below this). */
const MAX_FILE_BYTES = 16 * 1024 * 1024

export function statePath (dir: string): string {
  return join(resolve(dir), STATE_FILE)
}

export function bootstrapPath (dir: string): string {
  return join(resolve(dir), BOOTSTRAP_FILE)
}

export function redisUrlPath (dir: string): string {
  return join(resolve(dir), REDIS_URL_FILE)
}

/**
 * Reads and validates DIR/testnet.json.
 * Throws TestnetNotFoundError (BATCHAIN_ERR_TESTNET_NOT_FOUND) when there is none, and
 * TestnetStateError (BATCHAIN_ERR_TESTNET_STATE) when it is unreadable, not JSON, of another
 * version, or fails the schema.
 */
export async function loadTestnet (dir: string): Promise<TestnetState> {
  const file = statePath(dir)
  const text = await readSmallFile(file, () => new TestnetNotFoundError(`No testnet in ${resolve(dir)}: ${STATE_FILE} is missing (start one with \`batchain testnet up --dir ${dir}\`)`, { details: { dir: resolve(dir) } }))
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new TestnetStateError(`${file} is not valid JSON: ${errorMessage(err)}`, { details: { file } })
  }
  const version = (raw as { version?: unknown } | null)?.version
  if (version !== TESTNET_STATE_VERSION) {
    throw new TestnetStateError(`${file} has state version ${JSON.stringify(version) ?? 'undefined'}; this batchain reads version ${TESTNET_STATE_VERSION}`, { details: { file, version } })
  }
  const parsed = testnetStateSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue === undefined ? '' : `${issue.path.join('.')}: `
    throw new TestnetStateError(`${file} is not a valid testnet state (${where}${issue?.message ?? 'invalid'})`, { details: { file } })
  }
  return parsed.data
}

/** Writes DIR/testnet.json atomically (validated first: an invalid state is a bug, never written). */
export async function saveTestnet (dir: string, state: TestnetState): Promise<void> {
  const checked = testnetStateSchema.parse(state)
  await writeFileAtomic(statePath(dir), JSON.stringify(checked, null, 2) + '\n')
}

/** Writes DIR/bootstrap.txt atomically: one HOST:PORT per line. */
export async function saveBootstrapList (dir: string, addresses: readonly DhtAddress[]): Promise<void> {
  await writeFileAtomic(bootstrapPath(dir), addresses.map(a => formatContact(a) + '\n').join(''))
}

/** Writes DIR/redis.url atomically: the URL and a newline. */
export async function saveRedisUrl (dir: string, url: string): Promise<void> {
  await writeFileAtomic(redisUrlPath(dir), url + '\n')
}

/** Removes the state, bootstrap and Redis URL files (before `up`, and after a failed one). */
export async function removeTestnetFiles (dir: string): Promise<void> {
  await rm(statePath(dir), { force: true })
  await rm(bootstrapPath(dir), { force: true })
  await rm(redisUrlPath(dir), { force: true })
}

/**
 * The DHT addresses of a testnet's bootstraps, from DIR/bootstrap.txt (blank lines and `#`
 * comments ignored), for client commands given `--testnet DIR` or BATCHAIN_TESTNET_DIR.
 * Only the file is read, so a hand-written DIR/bootstrap.txt can point at any network.
 * Throws TestnetNotFoundError when the file is missing, TestnetStateError when it is malformed
 * or lists no address.
 */
export async function testnetBootstraps (dir: string): Promise<DhtAddress[]> {
  const file = bootstrapPath(dir)
  const text = await readSmallFile(file, () => new TestnetNotFoundError(`No testnet in ${resolve(dir)}: ${BOOTSTRAP_FILE} is missing`, { details: { dir: resolve(dir) } }))
  const out: DhtAddress[] = []
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    const trimmed = line.trim()
    if (trimmed === '' || trimmed.startsWith('#')) continue
    try {
      const { host, port } = parseContact(trimmed)
      out.push({ host, port })
    } catch (err) {
      throw new TestnetStateError(`${file} line ${i + 1}: ${errorMessage(err)}`, { details: { file, line: i + 1 } })
    }
  }
  if (out.length === 0) throw new TestnetStateError(`${file} lists no bootstrap address`, { details: { file } })
  return out
}

/**
 * The Redis of a testnet's jobs processes (redis://HOST:PORT), from DIR/redis.url (blank lines and
 * `#` comments ignored), for commands given `--testnet DIR` or BATCHAIN_TESTNET_DIR. Only the file
 * is read, so a hand-written DIR/redis.url can point at any Redis.
 * Throws TestnetNotFoundError when the file is missing (no testnet, or one started with
 * `--no-jobs`), TestnetStateError when it holds no redis:// or rediss:// URL.
 */
export async function testnetRedisUrl (dir: string): Promise<string> {
  const file = redisUrlPath(dir)
  const text = await readSmallFile(file, () => new TestnetNotFoundError(`No Redis in testnet ${resolve(dir)}: ${REDIS_URL_FILE} is missing (no testnet there, or it was started with --no-jobs)`, { details: { dir: resolve(dir) } }))
  const line = text.split(/\r?\n/).map(l => l.trim()).find(l => l !== '' && !l.startsWith('#'))
  let url: URL | undefined
  try {
    url = line === undefined ? undefined : new URL(line)
  } catch {
    url = undefined
  }
  if (line === undefined || url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '') {
    throw new TestnetStateError(`${file} holds no Redis URL (redis://HOST:PORT)`, { details: { file } })
  }
  return line
}

/**
 * The testnet directory a client command should use: its `--testnet` option, else
 * BATCHAIN_TESTNET_DIR, else undefined (the command then needs --bootstrap or --nodes).
 */
export function testnetDirFrom (option: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (option !== undefined && option !== '') return resolve(option)
  const fromEnv = env[TESTNET_DIR_ENV]
  return fromEnv !== undefined && fromEnv !== '' ? resolve(fromEnv) : undefined
}

async function readSmallFile (file: string, missing: () => Error): Promise<string> {
  let data: Buffer
  try {
    data = await readFile(file)
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (code === 'ENOENT' || code === 'ENOTDIR') throw missing()
    throw new TestnetStateError(`Cannot read ${file}: ${errorMessage(err)}`, { cause: err, details: { file } })
  }
  if (data.length > MAX_FILE_BYTES) throw new TestnetStateError(`${file} is larger than ${MAX_FILE_BYTES} bytes`, { details: { file } })
  return data.toString('utf8')
}

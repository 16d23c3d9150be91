/**
 * Raw TCP baselines for the transfer benchmark (a helper, not a group: the name starts with `_`).
 *
 * rawUploadBaseline: `receivers` plain receiver processes (bench/raw-receiver.ts), the benchmark
 * process pushes totalBytes split evenly across them, one TCP connection each, concurrently;
 * each receiver writes to a file, fsyncs and answers 'K'. Timed from the first connect to the last
 * 'K'; spawning the receivers is not timed.
 *
 * rawDownloadBaseline: the mirror image. Each receiver serves a pre-written file of its share
 * (--serve FILE); the benchmark process reads all of them concurrently and writes what it receives
 * to a file per connection (`sink: 'file'`, the default: a download must land in a file, as the
 * CLI's does; no fsync, like the CLI) or discards it to /dev/null (`sink: 'discard'`, the first
 * definition, still reported beside it). Timed from the first connect to the last byte written;
 * writing the served files and spawning are not.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { mkdir, open, rm } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'

export interface RawBaselineOptions {
  /** Bytes to move in total, split evenly across the receivers. */
  totalBytes: number
  /** Number of receiver processes (one TCP connection each). */
  receivers: number
  /** Working directory (files of the receivers go in subdirectories, removed afterwards). */
  dir: string
  /** Size of each socket.write() on upload (default 1 MiB, at most 8 MiB). */
  chunkSize?: number
  /** Download only: where received bytes go. @defaultValue 'file' */
  sink?: 'file' | 'discard'
  signal?: AbortSignal
}

export interface RawBaselineResult {
  seconds: number
  bytes: number
}

const BUFFER_SIZE = 8 * 1024 * 1024
const receiverScript = join(dirname(fileURLToPath(import.meta.url)), '..', 'raw-receiver.ts')

let randomBuffer: Buffer | undefined
/** 8 MiB of random bytes, generated once and reused (written repeatedly). */
function payload (): Buffer {
  randomBuffer ??= randomBytes(BUFFER_SIZE)
  return randomBuffer
}

function tsxImport (): string {
  try {
    return import.meta.resolve('tsx')
  } catch {
    return 'tsx'
  }
}

function shares (total: number, n: number): number[] {
  if (!Number.isSafeInteger(total) || total < 0) throw new RangeError(`totalBytes must be a non-negative integer, got ${total}`)
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`receivers must be a positive integer, got ${n}`)
  const base = Math.floor(total / n)
  return Array.from({ length: n }, (_, i) => base + (i < total % n ? 1 : 0))
}

interface Receiver {
  child: ChildProcess
  port: number
}

async function spawnReceiver (args: string[], signal?: AbortSignal): Promise<Receiver> {
  const child = spawn(process.execPath, ['--import', tsxImport(), receiverScript, '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'inherit']
  })
  try {
    const lines = createInterface({ input: child.stdout! })
    const exited = once(child, 'exit').then(([code, sig]) => {
      throw new Error(`raw-receiver exited before listening (code ${String(code)}, signal ${String(sig)})`)
    })
    exited.catch(() => {}) // the race below reports it; later the receiver is killed on purpose
    // If stdout closes without a line, the child's exit settles the race instead.
    const first = once(lines, 'line').then(([line]) => line as string)
    let onAbort = (): void => {}
    const aborted = new Promise<never>((_resolve, reject) => {
      onAbort = () => { reject(signal?.reason ?? new Error('aborted')) }
      signal?.addEventListener('abort', onAbort, { once: true })
    })
    let line: string
    try {
      signal?.throwIfAborted()
      line = await Promise.race([first, exited, aborted])
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
    lines.close()
    const { port } = JSON.parse(line) as { port: number }
    if (typeof port !== 'number') throw new Error(`raw-receiver printed ${line}`)
    return { child, port }
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }
}

async function stopReceivers (receivers: Receiver[]): Promise<void> {
  await Promise.all(receivers.map(async ({ child }) => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }))
}

async function connectTo (port: number, signal?: AbortSignal): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1', noDelay: true, ...(signal !== undefined ? { signal } : {}) })
  await once(socket, 'connect')
  return socket
}

/** Writes `bytes` from the reusable buffer with backpressure, ends, waits for the 'K'. */
async function push (port: number, bytes: number, chunkSize: number, signal?: AbortSignal): Promise<void> {
  const socket = await connectTo(port, signal)
  const buf = payload()
  let reply = ''
  socket.setEncoding('latin1')
  socket.on('data', (d: string) => { reply += d })
  const closed = once(socket, 'close')
  closed.catch(() => {})
  try {
    let offset = 0
    let left = bytes
    while (left > 0) {
      const n = Math.min(chunkSize, left, buf.length - offset)
      const ok = socket.write(buf.subarray(offset, offset + n))
      left -= n
      offset = (offset + n) % buf.length
      if (!ok) await once(socket, 'drain')
    }
    socket.end()
    await closed
  } catch (err) {
    socket.destroy()
    throw err
  }
  if (reply !== 'K') throw new Error(`raw receiver on port ${port} replied ${JSON.stringify(reply)} instead of "K"`)
}

/** Reads everything a serving receiver sends into `file` (a new file, or /dev/null); returns the byte count. */
async function pull (port: number, file: string, signal?: AbortSignal): Promise<number> {
  const socket = await connectTo(port, signal)
  socket.end() // nothing to say: the receiver starts streaming on connect
  await pipeline(socket, createWriteStream(file), ...(signal !== undefined ? [{ signal }] : []))
  return socket.bytesRead
}

/** Writes a file of `size` bytes from the reusable buffer (setup, not timed). */
async function writeFile (file: string, size: number): Promise<void> {
  const buf = payload()
  const fh = await open(file, 'w')
  try {
    let left = size
    while (left > 0) {
      const n = Math.min(left, buf.length)
      await fh.write(buf, 0, n)
      left -= n
    }
    await fh.sync()
  } finally {
    await fh.close()
  }
}

export async function rawUploadBaseline (opts: RawBaselineOptions): Promise<RawBaselineResult> {
  const { totalBytes, dir, signal } = opts
  const chunkSize = Math.min(Math.max(opts.chunkSize ?? 1024 * 1024, 1), BUFFER_SIZE)
  const parts = shares(totalBytes, opts.receivers)
  const root = join(dir, `raw-upload-${process.pid}-${Date.now()}`)
  const receivers: Receiver[] = []
  try {
    for (let i = 0; i < parts.length; i++) {
      const d = join(root, `r${i}`)
      await mkdir(d, { recursive: true })
      receivers.push(await spawnReceiver(['--dir', d], signal))
    }
    payload()
    signal?.throwIfAborted()
    const start = performance.now()
    await Promise.all(receivers.map(async (r, i) => { await push(r.port, parts[i]!, chunkSize, signal) }))
    const seconds = (performance.now() - start) / 1000
    return { seconds, bytes: totalBytes }
  } finally {
    await stopReceivers(receivers)
    await rm(root, { recursive: true, force: true })
  }
}

export async function rawDownloadBaseline (opts: RawBaselineOptions): Promise<RawBaselineResult> {
  const { totalBytes, dir, signal } = opts
  const parts = shares(totalBytes, opts.receivers)
  const root = join(dir, `raw-download-${process.pid}-${Date.now()}`)
  const receivers: Receiver[] = []
  try {
    await mkdir(root, { recursive: true })
    for (let i = 0; i < parts.length; i++) {
      const file = join(root, `r${i}.bin`)
      await writeFile(file, parts[i]!)
      signal?.throwIfAborted()
      receivers.push(await spawnReceiver(['--serve', file], signal))
    }
    const sinks = receivers.map((_r, i) => opts.sink === 'discard' ? '/dev/null' : join(root, `pulled-${i}.bin`))
    const start = performance.now()
    const got = await Promise.all(receivers.map(async (r, i) => await pull(r.port, sinks[i]!, signal)))
    const seconds = (performance.now() - start) / 1000
    got.forEach((n, i) => {
      if (n !== parts[i]) throw new Error(`raw download from receiver ${i}: got ${n} bytes, expected ${parts[i]}`)
    })
    return { seconds, bytes: totalBytes }
  } finally {
    await stopReceivers(receivers)
    await rm(root, { recursive: true, force: true })
  }
}

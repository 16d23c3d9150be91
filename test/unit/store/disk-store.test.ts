import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it, type TestContext } from 'node:test'
import { promisify } from 'node:util'
import { LEAF_SIZE } from '../../../src/core/constants.js'
import { DiskFullError, InvalidArgumentError, PieceNotFoundError, StoreError } from '../../../src/core/errors.js'
import type { PieceId } from '../../../src/core/ids.js'
import { MerkleHasher, verifyProof } from '../../../src/crypto/merkle.js'
import { createDiskStore, type PieceStore } from '../../../src/store/index.js'
import { requirePrerequisite } from '../../helpers/ci.js'
import { tempDir } from '../../helpers/tmp.js'
import { runStoreCompliance } from './compliance.js'
import { collect, makeOwner, makePiece, trackedBody, type TestPiece } from './fixtures.js'

const run = promisify(execFile)
const MiB = 1024 * 1024

runStoreCompliance('disk store', async ({ capacity }) => {
  const tmp = await tempDir('store')
  const store = await createDiskStore({ dir: tmp.dir, capacity })
  return {
    store,
    cleanup: async () => {
      await store.close()
      await tmp[Symbol.asyncDispose]()
    }
  }
})

async function storeDir (t: TestContext): Promise<string> {
  const tmp = await tempDir('store')
  t.after(async () => { await tmp[Symbol.asyncDispose]() })
  return tmp.dir
}

async function putPiece (store: PieceStore, piece: TestPiece, owner = makeOwner()): Promise<void> {
  assert.deepEqual(await store.put(piece.id, piece.data.length, trackedBody(piece.data, 64 * 1024), { owner }), { created: true })
}

async function readBack (store: PieceStore, id: PieceId): Promise<Buffer> {
  return await collect((await store.get(id)).stream)
}

const dataPath = (dir: string, id: string): string => join(dir, 'pieces', id.slice(0, 2), id)
const metaPath = (dir: string, id: string): string => `${dataPath(dir, id)}.meta`

describe('disk store: layout and restart', () => {
  it('lays pieces out as pieces/<id[0..2]>/<id> plus <id>.meta, and leaves tmp/ empty', async t => {
    const dir = await storeDir(t)
    const store = await createDiskStore({ dir, capacity: MiB })
    t.after(async () => { await store.close() })
    const piece = makePiece(LEAF_SIZE + 1)
    await putPiece(store, piece)
    assert.ok((await readFile(dataPath(dir, piece.id))).equals(piece.data), 'the piece file holds exactly the piece bytes')
    assert.equal((await readFile(metaPath(dir, piece.id))).subarray(0, 4).toString('latin1'), 'BCPM')
    assert.deepEqual(await readdir(join(dir, 'tmp')), [])
  })

  it('leaves tmp/ empty after every kind of failed put', async t => {
    const dir = await storeDir(t)
    const store = await createDiskStore({ dir, capacity: MiB })
    t.after(async () => { await store.close() })
    const piece = makePiece(3 * LEAF_SIZE)
    const owner = makeOwner()
    const forged = Buffer.from(piece.data)
    forged[5]! ^= 1
    await assert.rejects(store.put(piece.id, piece.data.length, trackedBody(forged), { owner }))
    await assert.rejects(store.put(piece.id, piece.data.length, trackedBody(piece.data.subarray(1)), { owner }))
    const controller = new AbortController()
    async function * abortAfterOneLeaf (): AsyncGenerator<Uint8Array> {
      yield piece.data.subarray(0, LEAF_SIZE)
      assert.equal((await readdir(join(dir, 'tmp'))).length, 1, 'a temp file exists while the put streams')
      controller.abort()
      await new Promise<never>(() => {})
    }
    await assert.rejects(store.put(piece.id, piece.data.length, abortAfterOneLeaf(), { owner, signal: controller.signal }))
    assert.deepEqual(await readdir(join(dir, 'tmp')), [])
    assert.deepEqual(await readdir(join(dir, 'pieces', piece.id.slice(0, 2))), [])
    assert.equal(store.stats().reserved, 0)
  })

  it('reopens with the same pieces, owners and accounting', async t => {
    const dir = await storeDir(t)
    const first = await createDiskStore({ dir, capacity: 4 * MiB })
    const pieces = [makePiece(0), makePiece(1000), makePiece(5 * LEAF_SIZE + 17)]
    const [alice, bob] = [makeOwner(), makeOwner()]
    for (const piece of pieces) await putPiece(first, piece, alice)
    await first.addOwner(pieces[2]!.id, bob)
    const metas = await Promise.all(pieces.map(async p => await first.stat(p.id)))
    const stats = first.stats()
    await first.close()

    const second = await createDiskStore({ dir, capacity: 4 * MiB })
    t.after(async () => { await second.close() })
    assert.deepEqual(second.stats(), stats)
    assert.equal(stats.used, 1000 + 5 * LEAF_SIZE + 17)
    assert.deepEqual(await Promise.all(pieces.map(async p => await second.stat(p.id))), metas)
    for (const piece of pieces) assert.ok((await readBack(second, piece.id)).equals(piece.data))
    const listed: string[] = []
    for await (const id of second.list()) listed.push(id)
    assert.deepEqual(listed.sort(), pieces.map(p => p.id).sort())
  })

  it('cleans crash leftovers on open and recomputes used from what is really there', async t => {
    const dir = await storeDir(t)
    const first = await createDiskStore({ dir, capacity: 4 * MiB })
    const [good, truncated, metaless, dataless, corruptMeta] = [makePiece(3000), makePiece(2 * LEAF_SIZE), makePiece(4000), makePiece(5000), makePiece(6000)]
    for (const piece of [good, truncated, dataless, corruptMeta]) await putPiece(first, piece)
    await first.close()

    // The states a crash (or outside damage) can leave behind:
    await writeFile(join(dir, 'tmp', `${metaless.id}.0011223344556677.data`), metaless.data.subarray(0, 100)) // unfinished put
    await writeFile(join(dir, 'tmp', 'something.meta'), 'x') // unfinished metadata rewrite
    await writeFile(dataPath(dir, metaless.id), metaless.data) // crash between the data and metadata renames
    await truncate(dataPath(dir, truncated.id), LEAF_SIZE) // data shorter than its metadata says
    await rm(dataPath(dir, dataless.id)) // metadata without data
    const meta = await readFile(metaPath(dir, corruptMeta.id))
    meta[20]! ^= 1
    await writeFile(metaPath(dir, corruptMeta.id), meta) // torn or rotted metadata: checksum fails
    await writeFile(join(dir, 'pieces', 'README'), 'not ours') // unknown names are left alone

    const second = await createDiskStore({ dir, capacity: 4 * MiB })
    t.after(async () => { await second.close() })
    assert.deepEqual(second.stats(), { capacity: 4 * MiB, used: 3000, reserved: 0, free: 4 * MiB - 3000, pieces: 1 })
    assert.ok((await readBack(second, good.id)).equals(good.data))
    for (const piece of [truncated, metaless, dataless, corruptMeta]) {
      assert.equal(await second.has(piece.id), false)
      await assert.rejects(stat(dataPath(dir, piece.id)), { code: 'ENOENT' })
      await assert.rejects(stat(metaPath(dir, piece.id)), { code: 'ENOENT' })
    }
    assert.deepEqual(await readdir(join(dir, 'tmp')), [])
    assert.equal(await readFile(join(dir, 'pieces', 'README'), 'utf8'), 'not ours')
    // A cleaned-up piece can be stored again.
    await putPiece(second, metaless)
    assert.equal(second.stats().used, 7000)
  })

  it('survives a process killed mid-put: no piece, no leftovers, correct accounting', async t => {
    const dir = await storeDir(t)
    const first = await createDiskStore({ dir, capacity: 64 * MiB })
    const kept = makePiece(10_000)
    await putPiece(first, kept)
    await first.close()
    // A child process streams a big piece slowly; we SIGKILL it while the temp file grows.
    const child = execFile(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('crash-child.ts', import.meta.url)), dir])
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => { if (chunk.toString().includes('writing')) resolve() })
      child.once('exit', code => { reject(new Error(`child exited early with ${code}`)) })
    })
    assert.ok((await readdir(join(dir, 'tmp'))).length > 0, 'the child had a temp file in flight')
    child.kill('SIGKILL')
    await new Promise(resolve => child.once('exit', resolve))

    const second = await createDiskStore({ dir, capacity: 64 * MiB })
    t.after(async () => { await second.close() })
    assert.deepEqual(second.stats(), { capacity: 64 * MiB, used: 10_000, reserved: 0, free: 64 * MiB - 10_000, pieces: 1 })
    assert.deepEqual(await readdir(join(dir, 'tmp')), [])
    assert.ok((await readBack(second, kept.id)).equals(kept.data))
  })

  it('keeps a second store off an open directory, and takes over a stale lock', async t => {
    const dir = await storeDir(t)
    const store = await createDiskStore({ dir, capacity: MiB })
    await assert.rejects(createDiskStore({ dir, capacity: MiB }), StoreError, 'same process')
    await store.close()

    // Held by another live process (our parent): refused, and the lock is left alone.
    await writeFile(join(dir, 'LOCK'), `${process.ppid}\n`)
    await assert.rejects(createDiskStore({ dir, capacity: MiB }), (err: unknown) => err instanceof StoreError && err.details?.pid === process.ppid)
    assert.equal(await readFile(join(dir, 'LOCK'), 'utf8'), `${process.ppid}\n`)

    // Held by a process that is gone: stale, taken over.
    const { stdout } = await run(process.execPath, ['-e', 'console.log(process.pid)'])
    await writeFile(join(dir, 'LOCK'), stdout)
    const reopened = await createDiskStore({ dir, capacity: MiB })
    assert.equal(await readFile(join(dir, 'LOCK'), 'utf8'), `${process.pid}\n`)
    await reopened.close()
    await assert.rejects(stat(join(dir, 'LOCK')), { code: 'ENOENT' }, 'close releases the lock')
  })

  it('refuses an invalid configuration', async t => {
    const dir = await storeDir(t)
    await assert.rejects(createDiskStore({ dir, capacity: -1 }), InvalidArgumentError)
    await assert.rejects(createDiskStore({ dir, capacity: 1.5 }), InvalidArgumentError)
    await assert.rejects(createDiskStore({ dir: '', capacity: 1 }), InvalidArgumentError)
    await assert.rejects(createDiskStore({ dir, capacity: 1, leafSize: 0 }), InvalidArgumentError)
    await writeFile(join(dir, 'file'), 'x')
    await assert.rejects(createDiskStore({ dir: join(dir, 'file'), capacity: 1 }), StoreError)
  })

  it('works with fsync disabled and a non-default leaf size', async t => {
    const dir = await storeDir(t)
    const store = await createDiskStore({ dir, capacity: MiB, fsync: false, leafSize: 1024 })
    t.after(async () => { await store.close() })
    const data = Buffer.alloc(5000, 7)
    const id = new MerkleHasher(1024).update(data).digest().root.toString('hex') as PieceId
    await store.put(id, data.length, trackedBody(data), { owner: makeOwner() })
    const proof = await store.audit(id, [4])
    assert.equal(proof.leafCount, 5)
    assert.equal(proof.leaves[0]!.length, 5000 - 4 * 1024)
    assert.ok(verifyProof(Buffer.from(id, 'hex'), 4, 5, proof.leaves[0]!, proof.proofs[0]!))
  })
})

describe('disk store: damaged pieces', () => {
  it('audits leaf data read from disk: a flipped byte fails verifyProof, other leaves still pass', async t => {
    const dir = await storeDir(t)
    const store = await createDiskStore({ dir, capacity: MiB })
    t.after(async () => { await store.close() })
    const piece = makePiece(4 * LEAF_SIZE)
    await putPiece(store, piece)
    const fh = await open(dataPath(dir, piece.id), 'r+')
    const byte = Buffer.alloc(1)
    await fh.read(byte, 0, 1, 2 * LEAF_SIZE + 99)
    byte[0]! ^= 0x01
    await fh.write(byte, 0, 1, 2 * LEAF_SIZE + 99)
    await fh.close()

    const root = Buffer.from(piece.id, 'hex')
    const proof = await store.audit(piece.id, [1, 2, 3])
    assert.ok(verifyProof(root, 1, 4, proof.leaves[0]!, proof.proofs[0]!))
    assert.equal(verifyProof(root, 2, 4, proof.leaves[1]!, proof.proofs[1]!), false, 'the corrupted leaf fails the audit')
    assert.ok(verifyProof(root, 3, 4, proof.leaves[2]!, proof.proofs[2]!))
  })

  it('reports a piece file that cannot be read with a clear error, other pieces unaffected', async t => {
    const dir = await storeDir(t)
    const store = await createDiskStore({ dir, capacity: MiB })
    t.after(async () => { await store.close() })
    const [healthy, shortened, replaced, vanished] = [makePiece(20_000), makePiece(2 * LEAF_SIZE), makePiece(30_000), makePiece(500)]
    for (const piece of [healthy, shortened, replaced, vanished]) await putPiece(store, piece)

    await truncate(dataPath(dir, shortened.id), 100)
    await assert.rejects(store.get(shortened.id), (err: unknown) => err instanceof StoreError && err.details?.id === shortened.id && err.details?.expected === 2 * LEAF_SIZE)
    await assert.rejects(store.audit(shortened.id, [1]), StoreError)

    await rm(dataPath(dir, replaced.id))
    await mkdir(dataPath(dir, replaced.id))
    await assert.rejects(store.get(replaced.id), StoreError)

    // Files deleted behind the store's back: not found, and no longer counted.
    await rm(dataPath(dir, vanished.id))
    await assert.rejects(store.get(vanished.id), PieceNotFoundError)
    assert.equal(await store.has(vanished.id), false)

    assert.ok((await readBack(store, healthy.id)).equals(healthy.data))
    assert.deepEqual(store.stats().used, 20_000 + 2 * LEAF_SIZE + 30_000)
  })
})

describe('disk store: a really full disk', () => {
  let mountPoint: string | undefined
  let mountError: string | undefined
  let cleanupDir: (() => Promise<void>) | undefined

  before(async () => {
    const tmp = await tempDir('tmpfs')
    cleanupDir = async () => { await tmp[Symbol.asyncDispose]() }
    try {
      await run('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', tmp.dir])
      mountPoint = tmp.dir
    } catch (err) {
      mountError = (err as Error).message.split('\n')[0]
    }
  })

  after(async () => {
    if (mountPoint !== undefined) await run('umount', [mountPoint])
    await cleanupDir?.()
  })

  it('turns ENOSPC into DiskFullError and keeps serving, then accepts a piece once space is freed', async t => {
    if (!requirePrerequisite('mounting a tmpfs (root with CAP_SYS_ADMIN)', mountPoint !== undefined, t, mountError)) return
    const dir = join(mountPoint as string, 'store')
    // Capacity far above the 2 MiB the file system really has: the disk fills before the quota does.
    const store = await createDiskStore({ dir, capacity: 100 * MiB })
    t.after(async () => { await store.close() })
    const owner = makeOwner()
    const stored: TestPiece[] = []
    let full: unknown
    for (let i = 0; i < 10 && full === undefined; i++) {
      const piece = makePiece(512 * 1024)
      try {
        await putPiece(store, piece, owner)
        stored.push(piece)
      } catch (err) {
        full = err
      }
    }
    assert.ok(full instanceof DiskFullError, `expected DiskFullError, got ${String(full)}`)
    assert.ok(stored.length >= 1 && stored.length < 4, `stored ${stored.length} pieces before the disk filled`)
    assert.deepEqual(await readdir(join(dir, 'tmp')), [], 'temp file removed')
    assert.deepEqual(store.stats(), { capacity: 100 * MiB, used: stored.length * 512 * 1024, reserved: 0, free: 100 * MiB - stored.length * 512 * 1024, pieces: stored.length })
    for (const piece of stored) assert.ok((await readBack(store, piece.id)).equals(piece.data), 'existing pieces untouched')

    // Still full: a further put fails the same clean way.
    const more = makePiece(512 * 1024)
    await assert.rejects(store.put(more.id, more.data.length, trackedBody(more.data), { owner }), DiskFullError)
    assert.equal(store.stats().reserved, 0)

    assert.deepEqual(await store.removeOwner(stored[0]!.id, owner), { deleted: true })
    const small = makePiece(100 * 1024)
    await putPiece(store, small, owner)
    assert.ok((await readBack(store, small.id)).equals(small.data))

    // And the accounting survives a restart on the full disk.
    const stats = store.stats()
    await store.close()
    const reopened = await createDiskStore({ dir, capacity: 100 * MiB })
    t.after(async () => { await reopened.close() })
    assert.deepEqual(reopened.stats(), stats)
  })
})

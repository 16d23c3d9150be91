import assert from 'node:assert/strict'
import { readFile, stat, statfs } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { probeDirectIo } from '../../../src/core/direct-io.js'
import { createDiskStore, type PieceStore } from '../../../src/store/index.js'
import { requirePrerequisite } from '../../helpers/ci.js'
import { requireDirect, testDir } from '../../helpers/direct-io.js'
import { tempDir } from '../../helpers/tmp.js'
import { runStoreCompliance } from './compliance.js'
import { collect, makeOwner, makePiece, trackedBody } from './fixtures.js'

const TMPFS_MAGIC = 0x01021994

/** The same compliance suite as the default (direct where possible) store, with direct I/O off. */
runStoreCompliance('disk store, buffered I/O', async ({ capacity }) => {
  const tmp = await tempDir('store-buffered')
  const store = await createDiskStore({ dir: tmp.dir, capacity, directIo: false })
  assert.equal(directOf(store), false)
  return {
    store,
    cleanup: async () => {
      await store.close()
      await tmp[Symbol.asyncDispose]()
    }
  }
})

function directOf (store: PieceStore): boolean {
  return (store as unknown as { direct: boolean }).direct
}


describe('disk store with direct I/O', () => {
  it('follows the probe on tmpfs (which takes O_DIRECT only since Linux 6.6) and round-trips either way', async t => {
    const fsType = await statfs('/dev/shm').then(s => s.type, () => undefined)
    if (!requirePrerequisite('/dev/shm on tmpfs', fsType === TMPFS_MAGIC, t)) return
    const tmp = await tempDir('direct-shm', '/dev/shm')
    t.after(async () => { await tmp[Symbol.asyncDispose]() })
    const probed = await probeDirectIo(tmp.dir)
    const store = await createDiskStore({ dir: tmp.dir, capacity: 8 << 20 })
    t.after(async () => { await store.close() })
    assert.equal(directOf(store), probed)
    const piece = makePiece(100_001)
    await store.put(piece.id, piece.data.length, trackedBody(piece.data), { owner: makeOwner() })
    assert.deepEqual(await collect((await store.get(piece.id, { offset: 3, length: 90_000 })).stream), piece.data.subarray(3, 90_003))
  })

  it('stores pieces of every tail length exactly (padded block cut back) and serves any range', async t => {
    const path = await testDir(t)
    if (!await requireDirect(t, path)) return
    const store = await createDiskStore({ dir: path, capacity: 64 << 20 })
    assert.equal(directOf(store), true)
    const sizes = [0, 1, 4095, 4096, 4097, 16 * 1024 + 1, 512 * 1024, 512 * 1024 + 3, 2 * 1024 * 1024 + 5]
    const pieces = sizes.map(makePiece)
    for (const piece of pieces) {
      // Odd body chunks (not block multiples) make the staging land on every alignment.
      assert.deepEqual(await store.put(piece.id, piece.data.length, trackedBody(piece.data, 7001), { owner: makeOwner() }), { created: true })
    }
    for (const piece of pieces) {
      const file = join(path, 'pieces', piece.id.slice(0, 2), piece.id)
      assert.equal((await stat(file)).size, piece.data.length, `file of a ${piece.data.length} B piece`)
      assert.deepEqual(await readFile(file), piece.data)
      assert.deepEqual(await collect((await store.get(piece.id)).stream), piece.data)
    }
    const big = pieces[pieces.length - 1] as typeof pieces[number]
    for (const [offset, length] of [[0, 1], [1, 4096], [4095, 2], [4096, 4096], [5000, 600_000], [big.data.length - 1, 1], [123_457, big.data.length - 123_457]] as const) {
      const got = await collect((await store.get(big.id, { offset, length })).stream)
      assert.deepEqual(got, big.data.subarray(offset, offset + length), `range ${offset}+${length}`)
    }
    await store.close()
    // What was written direct is what a reopened store (recovery checks every length) keeps.
    const reopened = await createDiskStore({ dir: path, capacity: 64 << 20 })
    t.after(async () => { await reopened.close() })
    assert.equal((await reopened.stats()).pieces, pieces.length)
    for (const piece of pieces) assert.deepEqual(await collect((await reopened.get(piece.id)).stream), piece.data)
  })
})

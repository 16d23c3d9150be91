import assert from 'node:assert/strict'
import { open, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { finished } from 'node:stream/promises'
import { describe, it } from 'node:test'
import { alignedBuffer, AlignedPool, createFileOutput, DIRECT_ALIGNMENT, directReadStream, directReadWhole, O_DIRECT, probeDirectIo } from '../../../src/core/direct-io.js'
import { requireDirect, testDir } from '../../helpers/direct-io.js'
import { collect, makePiece } from '../store/fixtures.js'



describe('direct I/O', () => {
  it('gives page-aligned buffers that an O_DIRECT write accepts', async t => {
    const path = await testDir(t)
    if (!await requireDirect(t, path)) return
    assert.equal(await probeDirectIo(path), true)
    // An ordinary buffer of this size is malloc'd 16 bytes into its mapping: the kernel refuses it.
    const fh = await open(join(path, 'f'), 'w', 0o600)
    await fh.close()
    const direct = await open(join(path, 'f'), (O_DIRECT as number) | 1)
    try {
      const misaligned = Buffer.alloc(DIRECT_ALIGNMENT + 16).subarray(16)
      const ok = alignedBuffer(DIRECT_ALIGNMENT).subarray(0, DIRECT_ALIGNMENT).fill(7)
      assert.equal((await direct.write(ok, 0, DIRECT_ALIGNMENT, 0)).bytesWritten, DIRECT_ALIGNMENT)
      await assert.rejects(direct.write(misaligned, 0, DIRECT_ALIGNMENT - 16, DIRECT_ALIGNMENT), { code: 'EINVAL' })
    } finally {
      await direct.close()
    }
  })

  it('a direct read stream destroyed half way closes its file and can be followed by others', async t => {
    const path = await testDir(t)
    if (!await requireDirect(t, path)) return
    const piece = makePiece(3 * 1024 * 1024 + 11)
    const file = join(path, 'p')
    const fh0 = await open(file, 'w')
    await fh0.write(piece.data)
    await fh0.close()
    const pool = new AlignedPool(64 * 1024)
    const fh = await open(file, O_DIRECT as number)
    const stream = directReadStream(fh, 10, piece.data.length - 10, pool)
    const first = await new Promise<Buffer>(resolve => stream.once('data', resolve))
    assert.deepEqual(first, piece.data.subarray(10, 10 + first.length))
    stream.destroy()
    await new Promise(resolve => stream.once('close', resolve))
    // The descriptor is closed (a read on it fails), so a cancelled GET leaks nothing.
    await assert.rejects(fh.read(Buffer.alloc(1), 0, 1, 0))
    const again = directReadStream(await open(file, O_DIRECT as number), 0, piece.data.length, pool)
    assert.deepEqual(await collect(again), piece.data)
  })

  it('reports a file shorter than the range as a stream error, not short data', async t => {
    const path = await testDir(t)
    if (!await requireDirect(t, path)) return
    const file = join(path, 'short')
    const fh0 = await open(file, 'w')
    await fh0.write(Buffer.alloc(5000, 1))
    await fh0.close()
    const stream = directReadStream(await open(file, O_DIRECT as number), 0, 9000, new AlignedPool(4096))
    await assert.rejects(collect(stream), /ended at 5000/)
  })

  it('a whole read yields the range as one view of a pooled buffer, which is reused only after release', async t => {
    const path = await testDir(t)
    if (!await requireDirect(t, path)) return
    const piece = makePiece(2 * 1024 * 1024 + 4096 - 5)
    const file = join(path, 'w')
    const fh0 = await open(file, 'w')
    await fh0.write(piece.data)
    await fh0.close()
    const pool = new AlignedPool(2 * 1024 * 1024 + 3 * 4096)
    const fh = await open(file, O_DIRECT as number)
    const { stream, release } = directReadWhole(fh, 7, piece.data.length - 7, pool)
    const chunks: Buffer[] = []
    for await (const chunk of stream) chunks.push(chunk as Buffer)
    assert.equal(chunks.length, 1, 'one chunk')
    assert.deepEqual(chunks[0], piece.data.subarray(7))
    await assert.rejects(fh.read(Buffer.alloc(1), 0, 1, 0), 'the file is closed once read')
    // Not released yet: the pool hands out another buffer, and the view stays intact.
    const other = pool.take()
    assert.notEqual(other.buffer, chunks[0]?.buffer)
    pool.give(other)
    release()
    const reused = [pool.take(), pool.take()]
    assert.ok(reused.some(b => b.buffer === chunks[0]?.buffer), 'released: back in the pool')
    // A range wider than the pool's buffers is refused; a short file is a stream error.
    assert.throws(() => directReadWhole(fh, 0, pool.size + 1, pool), RangeError)
    const short = directReadWhole(await open(file, O_DIRECT as number), 0, piece.data.length + 10, pool)
    await assert.rejects(collect(short.stream), /ended at/)
    short.release()
  })

  it('writes a file of any length through createFileOutput, direct, from chunks of any size', async t => {
    const path = await testDir(t)
    if (!await requireDirect(t, path)) return
    for (const size of [0, 1, 4096, 10_000_003]) {
      const data = makePiece(size).data
      const file = join(path, `out-${size}`)
      const { stream, direct } = await createFileOutput(file, { batchSize: 1 << 20 })
      assert.equal(direct, true)
      for (let at = 0; at < size; at += 777_777) stream.write(data.subarray(at, Math.min(size, at + 777_777)))
      stream.end()
      await finished(stream)
      assert.equal((await stat(file)).size, size)
      assert.deepEqual(await readFile(file), data)
      assert.equal((await stat(file)).mode & 0o777, 0o600)
    }
  })

  it('refuses to overwrite an existing file', async t => {
    const path = await testDir(t)
    const file = join(path, 'exists')
    await (await open(file, 'w')).close()
    await assert.rejects(createFileOutput(file), { code: 'EEXIST' })
  })
})

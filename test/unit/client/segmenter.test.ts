import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { segment, type ByteReader, type Segment } from '../../../src/client/segmenter.js'

async function * chunks (data: Buffer, sizes: () => number): AsyncGenerator<Buffer> {
  for (let at = 0; at < data.length;) {
    const n = Math.max(1, sizes())
    yield data.subarray(at, at + n)
    at += n
  }
}

async function collect (data: Buffer, segmentSize: number, sizes: () => number): Promise<Segment[]> {
  const out: Segment[] = []
  // Copy: the segmenter may reuse nothing, but tests must not depend on it.
  for await (const s of segment(chunks(data, sizes), segmentSize)) out.push({ ...s, data: Buffer.from(s.data) })
  return out
}

test('cuts a stream into full segments, the last one short and final, whatever the chunking', async () => {
  for (const size of [1, 99, 100, 101, 250, 300, 1000]) {
    const data = randomBytes(size)
    for (const chunking of [() => 1, () => 7, () => 100, () => 1 + Math.floor(Math.random() * 300)]) {
      const segs = await collect(data, 100, chunking)
      assert.equal(segs.length, Math.ceil(size / 100), `size ${size}`)
      segs.forEach((s, i) => {
        assert.equal(s.index, i)
        assert.equal(s.final, i === segs.length - 1)
        if (i < segs.length - 1) assert.equal(s.data.length, 100)
      })
      assert.ok(Buffer.concat(segs.map(s => s.data)).equals(data))
    }
  }
})

test('an empty stream is one empty final segment', async () => {
  const segs = await collect(Buffer.alloc(0), 100, () => 1)
  assert.deepEqual(segs.map(s => [s.index, s.data.length, s.final]), [[0, 0, true]])
})

test('a bad segment size is refused', async () => {
  await assert.rejects(collect(Buffer.alloc(1), 0, () => 1), /segment size/i)
})

/** A ByteReader over `data` whose reads return at most `sizes()` bytes (short reads, as a file may give). */
function reader (data: Buffer, sizes: () => number): ByteReader & { reads: number } {
  let at = 0
  const r = {
    reads: 0,
    readInto: async (target: Uint8Array): Promise<number> => {
      r.reads++
      const n = Math.min(target.length, data.length - at, Math.max(1, sizes()))
      target.set(data.subarray(at, at + n))
      at += n
      return n
    }
  }
  return r
}

test('a ByteReader gives the same segments as a stream of the same bytes, for every size and read length', async () => {
  for (const size of [0, 1, 99, 100, 101, 200, 250, 300, 1000]) {
    const data = randomBytes(size)
    const expected = await collect(data, 100, () => 100)
    for (const reads of [() => 1, () => 37, () => 100, () => 1000, () => 1 + Math.floor(Math.random() * 300)]) {
      for (const reuse of [false, true]) {
        const got: Segment[] = []
        for await (const s of segment(reader(data, reads), 100, { reuse })) got.push({ ...s, data: Buffer.from(s.data) })
        assert.deepEqual(got.map(s => [s.index, s.final, s.data.toString('hex')]), expected.map(s => [s.index, s.final, s.data.toString('hex')]), `size ${size} reuse ${String(reuse)}`)
      }
    }
  }
})

test('a ByteReader fills the segment buffers in place: with reuse, two buffers serve the whole file', async () => {
  const data = randomBytes(1000)
  const allocated: Buffer[] = []
  const seen = new Set<ArrayBuffer>()
  for await (const s of segment(reader(data, () => 1000), 100, { reuse: true, allocate: n => { const b = Buffer.alloc(n); allocated.push(b); return b } })) {
    seen.add(s.data.buffer as ArrayBuffer)
    assert.ok(allocated.some(b => b.buffer === s.data.buffer), 'segment data is one of the allocated buffers')
  }
  assert.equal(allocated.length, 2)
  assert.equal(seen.size, 2)
})

test('a ByteReader that reports an impossible count is refused', async () => {
  const liar: ByteReader = { readInto: async target => target.length + 1 }
  await assert.rejects(async () => { for await (const s of segment(liar, 100)) void s }, /bad byte count/)
})

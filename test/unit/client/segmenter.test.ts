import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { segment, type Segment } from '../../../src/client/segmenter.js'

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

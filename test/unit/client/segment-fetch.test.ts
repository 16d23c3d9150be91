import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import type { NodeId, PieceId } from '../../../src/core/ids.js'
import { createErasureCoder } from '../../../src/erasure/index.js'
import { pieceIdOf } from '../../../src/crypto/merkle.js'
import type { Holder } from '../../../src/client/locator.js'
import { fetchShards } from '../../../src/client/segment-fetch.js'
import type { SegmentLayout } from '../../../src/manifest/index.js'
import type { PieceClient } from '../../../src/transfer/index.js'

/**
 * fetchShards' request discipline against an in-process stand-in for the piece client (pure logic:
 * which pieces are asked for, and when). The real client is covered by the transfer tests.
 */
async function segmentOf (k: number, m: number, shardSize: number): Promise<{ layout: SegmentLayout, shards: Buffer[] }> {
  const coder = await createErasureCoder(k, m)
  const data = randomBytes(k * shardSize)
  const parity = await coder.encode(data, shardSize)
  const shards = [...Array.from({ length: k }, (_, i) => data.subarray(i * shardSize, (i + 1) * shardSize)), ...Array.from({ length: m }, (_, i) => parity.subarray(i * shardSize, (i + 1) * shardSize))]
  const layout: SegmentLayout = { index: 0, cipherSize: k * shardSize, shardSize, pieces: shards.map(s => ({ id: pieceIdOf(s), size: shardSize, grant: '' })) }
  return { layout, shards }
}

function fakeClient (shards: Buffer[], layout: SegmentLayout, delayMs: (shard: number) => number, fail: Set<number> = new Set()): { client: PieceClient, asked: number[] } {
  const asked: number[] = []
  const client = {
    async get (_holder: Holder, id: PieceId, options: { signal?: AbortSignal, into?: Buffer }) {
      const shard = layout.pieces.findIndex(p => p.id === id)
      asked.push(shard)
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, delayMs(shard))
        options.signal?.addEventListener('abort', () => { clearTimeout(timer); reject(options.signal?.reason) }, { once: true })
      })
      if (fail.has(shard)) throw new Error('node failed')
      const data = shards[shard] as Buffer
      return { data: Buffer.from(data), size: data.length, nodeId: 'a'.repeat(64) as NodeId }
    }
  }
  return { client: client as unknown as PieceClient, asked }
}

function holdersFor (layout: SegmentLayout): Map<PieceId, Holder[]> {
  return new Map(layout.pieces.map((p, i) => [p.id, [{ host: '127.0.0.1', port: 1000 + i, nodeId: String(i).repeat(64).slice(0, 64) as NodeId }]]))
}

describe('fetchShards', () => {
  test('asks for exactly the k data shards when they arrive before hedgeAfter, however uneven their times', async () => {
    const { layout, shards } = await segmentOf(4, 2, 4096)
    const coder = await createErasureCoder(4, 2)
    const { client, asked } = fakeClient(shards, layout, shard => [5, 40, 80, 120][shard] ?? 1)
    const got = await fetchShards(layout, holdersFor(layout), coder, client, { hedgeAfter: 1000, extra: 1, verify: true })
    assert.deepEqual(asked.sort(), [0, 1, 2, 3], 'no fifth request before hedgeAfter')
    assert.deepEqual(Buffer.concat(got.data), Buffer.concat(shards.slice(0, 4)))
    got.release()
  })

  test('a straggler past hedgeAfter gets one extra request, and the segment is rebuilt from it', async () => {
    const { layout, shards } = await segmentOf(4, 2, 4096)
    const coder = await createErasureCoder(4, 2)
    const { client, asked } = fakeClient(shards, layout, shard => shard === 2 ? 2000 : 5)
    const got = await fetchShards(layout, holdersFor(layout), coder, client, { hedgeAfter: 50, extra: 1, verify: true })
    assert.deepEqual([...asked].sort(), [0, 1, 2, 3, 4])
    assert.deepEqual(Buffer.concat(got.data), Buffer.concat(shards.slice(0, 4)))
    got.release()
  })

  test('a failed shard is replaced by the next one at once, without waiting for hedgeAfter', async () => {
    const { layout, shards } = await segmentOf(4, 2, 4096)
    const coder = await createErasureCoder(4, 2)
    const { client, asked } = fakeClient(shards, layout, () => 5, new Set([1]))
    const started = performance.now()
    const got = await fetchShards(layout, holdersFor(layout), coder, client, { hedgeAfter: 5000, extra: 1, verify: true })
    assert.ok(performance.now() - started < 4000, 'did not wait for the hedge')
    assert.deepEqual([...asked].sort(), [0, 1, 2, 3, 4])
    assert.deepEqual(Buffer.concat(got.data), Buffer.concat(shards.slice(0, 4)))
    got.release()
  })
})

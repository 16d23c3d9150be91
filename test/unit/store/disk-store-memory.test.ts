import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { setImmediate as tick } from 'node:timers/promises'
import { it } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { PieceId } from '../../../src/core/ids.js'
import { MerkleHasher } from '../../../src/crypto/merkle.js'
import { createDiskStore } from '../../../src/store/index.js'
import { tempDir } from '../../helpers/tmp.js'
import { makeOwner } from './fixtures.js'

/**
 * The disk store must stream: a 64 MiB piece goes through put and get while the process
 * holds far less than 64 MiB of heap and Buffer memory beyond where it started.
 */

const MiB = 1024 * 1024
const PIECE_SIZE = 64 * MiB
const CHUNK = 64 * 1024
/** Generous for streams, hashers and allocator slack; a store that buffered the piece would use 64 MiB. */
const MAX_GROWTH = 16 * MiB

// A real collector between samples, so the numbers measure what is live, not what is garbage.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

function liveBytes (): number {
  gc()
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.arrayBuffers
}

/** Chunk `i` of the test piece, made fresh each time so no copy of the piece ever exists. */
function chunkAt (i: number): Buffer {
  const chunk = Buffer.alloc(CHUNK, i & 0xff)
  chunk.writeUInt32BE(i, 0)
  return chunk
}

it('puts and gets a 64 MiB piece without buffering it', async t => {
  const tmp = await tempDir('store-memory')
  t.after(async () => { await tmp[Symbol.asyncDispose]() })
  const hasher = new MerkleHasher()
  const whole = createHash('sha256')
  for (let i = 0; i < PIECE_SIZE / CHUNK; i++) {
    const chunk = chunkAt(i)
    hasher.update(chunk)
    whole.update(chunk)
  }
  const id = hasher.digest().root.toString('hex') as PieceId
  const expectedDigest = whole.digest('hex')

  const store = await createDiskStore({ dir: tmp.dir, capacity: 128 * MiB })
  t.after(async () => { await store.close() })

  const baseline = liveBytes()
  let peak = 0
  async function * slowBody (): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < PIECE_SIZE / CHUNK; i++) {
      // A slow sender: the store must wait for it rather than read ahead.
      await tick()
      if (i % 64 === 0) peak = Math.max(peak, liveBytes() - baseline)
      yield chunkAt(i)
    }
  }
  assert.deepEqual(await store.put(id, PIECE_SIZE, slowBody(), { owner: makeOwner() }), { created: true })
  peak = Math.max(peak, liveBytes() - baseline)
  assert.ok(peak < MAX_GROWTH, `put held ${(peak / MiB).toFixed(1)} MiB beyond baseline (limit ${MAX_GROWTH / MiB} MiB)`)

  const { size, stream } = await store.get(id)
  assert.equal(size, PIECE_SIZE)
  const readBack = createHash('sha256')
  let readPeak = 0
  let n = 0
  for await (const chunk of stream) {
    readBack.update(chunk)
    if (n++ % 64 === 0) readPeak = Math.max(readPeak, liveBytes() - baseline)
  }
  assert.equal(readBack.digest('hex'), expectedDigest)
  assert.ok(readPeak < MAX_GROWTH, `get held ${(readPeak / MiB).toFixed(1)} MiB beyond baseline (limit ${MAX_GROWTH / MiB} MiB)`)
  t.diagnostic(`peak growth: put ${(peak / MiB).toFixed(1)} MiB, get ${(readPeak / MiB).toFixed(1)} MiB`)
})

import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { describe, test } from 'node:test'
import { ErasureError, InvalidArgumentError } from '../../../src/core/errors.js'
import { createContext } from '../../../src/erasure/bitmatrix.js'
import {
  createErasureCoder, JS_BACKEND, MAX_DATA_SHARDS, MAX_PARITY_SHARDS, NATIVE_BACKEND,
  nativeBackendAvailable, shardSizeFor, type ErasureCoder
} from '../../../src/erasure/index.js'

/** Deterministic pseudo-random bytes, so a failure reproduces. */
function bytes (length: number, seed: string): Buffer {
  const out = Buffer.alloc(length)
  let block = createHash('sha256').update(seed).digest()
  for (let offset = 0; offset < length; offset += block.length) {
    block.copy(out, offset)
    block = createHash('sha256').update(block).digest()
  }
  return out
}

function split (buf: Buffer, shardSize: number): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; i < buf.length; i += shardSize) out.push(buf.subarray(i, i + shardSize))
  return out
}

/** Every subset of 0..n-1 with at most `max` members (the patterns of lost shards). */
function lossPatterns (n: number, max: number): number[][] {
  const out: number[][] = []
  for (let mask = 0; mask < 1 << n; mask++) {
    const members: number[] = []
    for (let i = 0; i < n; i++) if ((mask & (1 << i)) !== 0) members.push(i)
    if (members.length <= max) out.push(members)
  }
  return out
}

const native = nativeBackendAvailable()
const backends: Array<'native' | 'fallback'> = native ? ['native', 'fallback'] : ['fallback']
const params: Array<[number, number]> = [[1, 1], [1, 2], [2, 1], [3, 2], [4, 2], [6, 3]]
const shardSizes = [8, 24, 4096, 65544]

describe('shardSizeFor', () => {
  test('smallest multiple of 8 holding the length, at least 8', () => {
    assert.equal(shardSizeFor(0, 4), 8)
    assert.equal(shardSizeFor(1, 4), 8)
    assert.equal(shardSizeFor(32, 4), 8)
    assert.equal(shardSizeFor(33, 4), 16)
    assert.equal(shardSizeFor(8 * 1024 * 1024 + 16, 4), 2 * 1024 * 1024 + 8)
    for (let length = 0; length < 300; length++) {
      for (const k of [1, 2, 3, 4, 7]) {
        const s = shardSizeFor(length, k)
        assert.equal(s % 8, 0)
        assert.ok(k * s >= length)
        assert.ok(s === 8 || k * (s - 8) < length, `shard size ${s} for length ${length}, k ${k} is not the smallest`)
      }
    }
  })

  test('rejects bad arguments', () => {
    assert.throws(() => shardSizeFor(-1, 4), InvalidArgumentError)
    assert.throws(() => shardSizeFor(1.5, 4), InvalidArgumentError)
    assert.throws(() => shardSizeFor(10, 0), InvalidArgumentError)
    assert.throws(() => shardSizeFor(10, MAX_DATA_SHARDS + 1), InvalidArgumentError)
  })
})

describe('createErasureCoder', () => {
  test('validates k and m', async () => {
    for (const [k, m] of [[0, 1], [1, 0], [MAX_DATA_SHARDS + 1, 1], [1, MAX_PARITY_SHARDS + 1], [1.5, 1], [2, Number.NaN]] as const) {
      await assert.rejects(createErasureCoder(k, m), InvalidArgumentError, `k=${k} m=${m}`)
    }
    await assert.rejects(createErasureCoder(4, 2, { backend: 'gpu' as 'native' }), InvalidArgumentError)
  })

  test('limits are those of the code', () => {
    assert.equal(MAX_DATA_SHARDS, 24)
    assert.equal(MAX_PARITY_SHARDS, 6)
  })

  test('fallback backend is the pure-TypeScript port', async () => {
    const coder = await createErasureCoder(4, 2, { backend: 'fallback' })
    assert.equal(coder.backend, JS_BACKEND)
    assert.equal(coder.dataShards, 4)
    assert.equal(coder.parityShards, 2)
  })

  test('default backend is native when the addon loads', { skip: !native && 'native addon not built here' }, async () => {
    assert.equal((await createErasureCoder(4, 2)).backend, NATIVE_BACKEND)
    assert.equal((await createErasureCoder(4, 2, { backend: 'native' })).backend, NATIVE_BACKEND)
  })
})

for (const backend of backends) {
  describe(`erasure backend ${backend}`, () => {
    for (const [k, m] of params) {
      test(`${k}+${m}: every loss of up to ${m} shards rebuilds byte-exactly`, async () => {
        const coder = await createErasureCoder(k, m, { backend })
        const patterns = lossPatterns(k + m, m)
        for (const shardSize of shardSizes) {
          const data = bytes(k * shardSize, `${k}/${m}/${shardSize}`)
          const parity = await coder.encode(data, shardSize)
          assert.equal(parity.length, m * shardSize)
          const all = [...split(data, shardSize), ...split(parity, shardSize)]
          if (k === 1) {
            // Replication: every shard equals the data.
            for (const shard of all) assert.deepEqual(shard, data)
          }
          for (const lost of patterns) {
            const given = all.map((s, i) => lost.includes(i) ? undefined : Buffer.from(s))
            const rebuilt = await coder.reconstruct(given, shardSize)
            assert.equal(rebuilt.length, k + m)
            for (let i = 0; i < k + m; i++) {
              assert.ok(rebuilt[i]?.equals(all[i] as Buffer), `${k}+${m} shard ${shardSize}: shard ${i} wrong after losing [${lost.join(',')}]`)
            }
          }
        }
      })
    }

    test('reconstruct with only: the named absent shards are rebuilt, the other absent ones left uncomputed', async () => {
      const [k, m] = [4, 2]
      const coder = await createErasureCoder(k, m, { backend })
      const shardSize = 4096
      const data = bytes(k * shardSize, 'only')
      const all = [...split(data, shardSize), ...split(await coder.encode(data, shardSize), shardSize)]
      // [lost, only, left uncomputed]: a parity shard is computed from the data shards, so an
      // absent data shard is rebuilt on the way to it (and the code may use other absent slots
      // as scratch: only the first case promises a slot left alone).
      const cases: Array<[number[], number[], number[]]> = [[[1, 5], [1], [5]], [[0, 4], [4], []], [[2, 3], [2, 3], []], [[5], [0, 5], []]]
      for (const [lost, only, untouched] of cases) {
        const into = Buffer.alloc((k + m) * shardSize, 0xaa)
        const rebuilt = await coder.reconstruct(all.map((s, i) => lost.includes(i) ? undefined : Buffer.from(s)), shardSize, { into, only })
        for (const i of only.filter(i => lost.includes(i))) assert.ok(rebuilt[i]?.equals(all[i] as Buffer), `lost [${lost.join(',')}] only [${only.join(',')}]: shard ${i} rebuilt`)
        for (const i of untouched) assert.ok(rebuilt[i]?.every(b => b === 0xaa), `lost [${lost.join(',')}] only [${only.join(',')}]: shard ${i} not computed`)
      }
    })

    test('reconstruct into a dirty workspace (into) rebuilds byte-exactly, returning views of it', async () => {
      for (const [k, m] of [[4, 2], [3, 3], [1, 2]] as const) {
        const coder = await createErasureCoder(k, m, { backend })
        const shardSize = 4096
        const data = bytes(k * shardSize, `into ${k}/${m}`)
        const all = [...split(data, shardSize), ...split(await coder.encode(data, shardSize), shardSize)]
        for (const lost of lossPatterns(k + m, m).filter(l => l.length > 0)) {
          const into = bytes((k + m) * shardSize + 64, `dirt ${lost.join(',')}`)
          const rebuilt = await coder.reconstruct(all.map((s, i) => lost.includes(i) ? undefined : Buffer.from(s)), shardSize, { into })
          for (let i = 0; i < k + m; i++) assert.ok(rebuilt[i]?.equals(all[i] as Buffer), `${k}+${m}: shard ${i} wrong after losing [${lost.join(',')}]`)
          for (const i of lost) assert.equal(rebuilt[i]?.buffer, into.buffer, 'a rebuilt shard is a view of the workspace')
        }
        // A workspace too small is not used.
        const small = Buffer.alloc(shardSize)
        const rebuilt = await coder.reconstruct(all.map((s, i) => i === 0 ? undefined : s), shardSize, { into: small })
        assert.ok(rebuilt[0]?.equals(all[0] as Buffer))
        assert.notEqual(rebuilt[0]?.buffer, small.buffer)
      }
    })

    test('parity is not trivially zero or a copy for k > 1', async () => {
      const coder = await createErasureCoder(4, 2, { backend })
      const data = bytes(4 * 64, 'nontrivial')
      const parity = await coder.encode(data, 64)
      for (const p of split(parity, 64)) {
        assert.notDeepEqual(p, Buffer.alloc(64))
        for (const d of split(data, 64)) assert.notDeepEqual(p, d)
      }
    })

    test('encode accepts data at an unaligned offset', async () => {
      const coder = await createErasureCoder(3, 2, { backend })
      const backing = bytes(3 * 4096 + 3, 'unaligned')
      const data = backing.subarray(3)
      const expected = await coder.encode(Buffer.from(data), 4096)
      assert.deepEqual(await coder.encode(data, 4096), expected)
    })

    test('encode into a caller-supplied parity buffer (dirty, in one buffer with the data) gives the same parity', async () => {
      for (const [k, m] of params) {
        const coder = await createErasureCoder(k, m, { backend })
        for (const shardSize of shardSizes) {
          const data = bytes(k * shardSize, `into/${k}/${m}/${shardSize}`)
          const expected = await coder.encode(Buffer.from(data), shardSize)
          const all = Buffer.alloc((k + m) * shardSize, 0xa5)
          data.copy(all)
          const parity = all.subarray(k * shardSize)
          const returned = await coder.encode(all.subarray(0, k * shardSize), shardSize, { parity })
          assert.equal(returned, parity)
          assert.ok(parity.equals(expected), `${k}+${m} shard ${shardSize}: parity differs`)
          assert.ok(all.subarray(0, k * shardSize).equals(data), 'data shards untouched')
        }
        await assert.rejects(coder.encode(Buffer.alloc(k * 64), 64, { parity: Buffer.alloc(m * 64 - 8) }), ErasureError)
      }
    })

    test('wrong shard sizes and too few shards are ErasureErrors', async () => {
      const coder = await createErasureCoder(4, 2, { backend })
      const shard = Buffer.alloc(64)
      await assert.rejects(coder.encode(Buffer.alloc(4 * 64), 60), ErasureError)
      await assert.rejects(coder.encode(Buffer.alloc(4 * 64), 0), ErasureError)
      await assert.rejects(coder.encode(Buffer.alloc(4 * 64 - 8), 64), ErasureError)
      await assert.rejects(coder.encode(Buffer.alloc(4 * 64 + 8), 64), ErasureError)
      await assert.rejects(coder.reconstruct([shard, shard, shard, undefined, undefined, undefined], 64), ErasureError)
      await assert.rejects(coder.reconstruct([shard, shard, shard, shard, undefined], 64), ErasureError)
      await assert.rejects(coder.reconstruct([shard, shard, shard, Buffer.alloc(56), undefined, undefined], 64), ErasureError)
      await assert.rejects(coder.reconstruct([shard, shard, shard, shard, undefined, undefined], 48), ErasureError)
    })

    test('nothing missing returns the shards as given', async () => {
      const coder = await createErasureCoder(2, 1, { backend })
      const shards = [Buffer.alloc(8, 1), Buffer.alloc(8, 2), Buffer.alloc(8, 3)]
      const out = await coder.reconstruct(shards, 8)
      out.forEach((s, i) => { assert.equal(s, shards[i]) })
    })

    test('an aborted signal rejects', async () => {
      const coder = await createErasureCoder(2, 1, { backend })
      const signal = AbortSignal.abort()
      await assert.rejects(coder.encode(Buffer.alloc(16), 8, { signal }), { code: 'BATCHAIN_ERR_ABORTED' })
      await assert.rejects(coder.reconstruct([Buffer.alloc(8), undefined, Buffer.alloc(8)], 8, { signal }), { code: 'BATCHAIN_ERR_ABORTED' })
    })
  })
}

describe('native and fallback interoperate', { skip: !native && 'native addon not built here' }, () => {
  test('the port builds the addon\'s exact bit matrix for every k, m', () => {
    const addon = createRequire(import.meta.url)('@ronomon/reed-solomon') as { create: (k: number, m: number) => Buffer }
    for (let k = 1; k <= MAX_DATA_SHARDS; k++) {
      for (let m = 1; m <= MAX_PARITY_SHARDS; m++) {
        assert.deepEqual(Buffer.from(createContext(k, m)), addon.create(k, m), `context k=${k} m=${m}`)
      }
    }
  })

  test('identical parity, and each rebuilds from the other\'s parity', async () => {
    const cases: Array<[number, number, number]> = [
      [1, 1, 8], [2, 1, 16], [3, 2, 24], [4, 2, 4096], [4, 2, 2 * 1024 * 1024], [6, 3, 8000],
      [10, 4, 65536], [12, 6, 1 << 20], [17, 3, 4104], [24, 6, 192], [8, 5, 40]
    ]
    for (const [k, m, shardSize] of cases) {
      const n = await createErasureCoder(k, m, { backend: 'native' })
      const j = await createErasureCoder(k, m, { backend: 'fallback' })
      const data = bytes(k * shardSize, `interop ${k} ${m} ${shardSize}`)
      const parity = await n.encode(data, shardSize)
      assert.ok(parity.equals(await j.encode(data, shardSize)), `parity differs for ${k}+${m}, shard ${shardSize}`)
      const all = [...split(data, shardSize), ...split(parity, shardSize)]
      // Lose the first m shards (data first: the hardest case), rebuild with each backend.
      const given = all.map((s, i) => i < m ? undefined : s)
      for (const coder of [n, j]) {
        const rebuilt = await coder.reconstruct(given, shardSize)
        rebuilt.forEach((s, i) => { assert.ok(s.equals(all[i] as Buffer), `${coder.backend} ${k}+${m}: shard ${i}`) })
      }
    }
  })
})

describe('every coder type-checks as ErasureCoder', () => {
  test('interface shape', async () => {
    const coder: ErasureCoder = await createErasureCoder(2, 2, { backend: 'fallback' })
    assert.equal(typeof coder.encode, 'function')
    assert.equal(typeof coder.reconstruct, 'function')
  })
})

import { randomBytes } from 'node:crypto'
import { throwIfAborted } from '../../src/core/abort.js'
import { MiB } from '../../src/core/constants.js'
import { createErasureCoder, nativeBackendAvailable, type ErasureCoder } from '../../src/erasure/index.js'
import { withBaseline, type BenchContext, type BenchGroup } from '../harness.js'

/**
 * Erasure coder alone, 4+2 with 2 MiB shards (one 8 MiB segment per call, one
 * call at a time), over ~512 MiB of data per figure:
 *   erasure.encode / erasure.decode                    default backend (native when built)
 *   erasure.encode.fallback / erasure.decode.fallback  the pure-TypeScript port
 * decode = rebuild with 2 data shards lost. Values are MB/s (10^6 bytes) of data
 * bytes; the baseline is Buffer.copy of the same bytes in the same run.
 */

const K = 4
const M = 2
const SHARD_SIZE = 2 * MiB
const SEGMENT = K * SHARD_SIZE
const TOTAL = 512 * MiB
const ITERATIONS = TOTAL / SEGMENT
/** Distinct inputs rotated through so the figures are not of one cache-hot buffer. */
const INPUTS = 4

async function timeLoop (signal: AbortSignal, body: (i: number) => Promise<void> | void): Promise<number> {
  await body(0) // warm-up: JIT, first-touch page faults
  const start = process.hrtime.bigint()
  for (let i = 0; i < ITERATIONS; i++) {
    throwIfAborted(signal)
    await body(i)
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  return (ITERATIONS * SEGMENT) / 1e6 / seconds
}

async function measureCoder (ctx: BenchContext, coder: ErasureCoder, inputs: Buffer[], suffix: string, memcpy: number): Promise<void> {
  const extra = { backend: coder.backend, k: K, m: M, shardSize: SHARD_SIZE, totalBytes: ITERATIONS * SEGMENT, concurrency: 1 }
  const parities: Buffer[] = []
  for (const input of inputs) parities.push(await coder.encode(input, SHARD_SIZE, { signal: ctx.signal }))

  const encode = await timeLoop(ctx.signal, async i => {
    await coder.encode(inputs[i % INPUTS] as Buffer, SHARD_SIZE, { signal: ctx.signal })
  })
  ctx.emit(withBaseline(`erasure.encode${suffix}`, encode, 'MB/s', memcpy, extra))

  // Shards 0 and 1 (data) lost; 2, 3 and both parity shards present.
  const damaged = inputs.map((input, n) => {
    const shards: Array<Buffer | undefined> = [undefined, undefined]
    for (let s = 2; s < K; s++) shards.push(input.subarray(s * SHARD_SIZE, (s + 1) * SHARD_SIZE))
    const parity = parities[n] as Buffer
    for (let s = 0; s < M; s++) shards.push(parity.subarray(s * SHARD_SIZE, (s + 1) * SHARD_SIZE))
    return shards
  })
  // Check once that the rebuild is right: a fast wrong answer is no figure.
  const rebuilt = await coder.reconstruct(damaged[0] as Array<Buffer | undefined>, SHARD_SIZE)
  if (!Buffer.concat(rebuilt.slice(0, K)).equals(inputs[0] as Buffer)) throw new Error(`${coder.backend} rebuilt the wrong bytes`)

  const decode = await timeLoop(ctx.signal, async i => {
    await coder.reconstruct(damaged[i % INPUTS] as Array<Buffer | undefined>, SHARD_SIZE, { signal: ctx.signal })
  })
  ctx.emit(withBaseline(`erasure.decode${suffix}`, decode, 'MB/s', memcpy, { ...extra, lostShards: [0, 1] }))
}

const erasure: BenchGroup = async (ctx) => {
  const inputs = Array.from({ length: INPUTS }, () => randomBytes(SEGMENT))
  const target = Buffer.alloc(SEGMENT)
  const memcpy = await timeLoop(ctx.signal, i => { (inputs[i % INPUTS] as Buffer).copy(target) })

  const primary = await createErasureCoder(K, M)
  await measureCoder(ctx, primary, inputs, '', memcpy)
  if (nativeBackendAvailable()) {
    await measureCoder(ctx, await createErasureCoder(K, M, { backend: 'fallback' }), inputs, '.fallback', memcpy)
  }
}

export default erasure

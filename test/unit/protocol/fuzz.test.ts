import { test } from 'node:test'
import assert from 'node:assert/strict'
import { BatchainError } from '../../../src/core/errors.js'
import { FrameDecoder, encodeFrameHead, Op, Res, parseHeader, schemas } from '../../../src/protocol/index.js'
import { PROTOCOL_VERSION } from '../../../src/core/constants.js'

/**
 * Feeds ≥100k random and mutated frames to the decoder and the header schemas.
 * Whatever the input, the only acceptable outcomes are events or one of our
 * errors (with a stable code); never a crash, a hang or unbounded buffering.
 */

// Deterministic PRNG (xorshift32) so a failure reproduces from the printed seed.
function rng (seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    return x / 0x100000000
  }
}

const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 0xffffffff)
const rand = rng(seed)
const int = (n: number): number => Math.floor(rand() * n)
const bytes = (n: number): Buffer => { const b = Buffer.allocUnsafe(n); for (let i = 0; i < n; i++) b[i] = int(256); return b }

const id = 'cd'.repeat(32)
const templates: Buffer[] = [
  encodeFrameHead(Op.Hello, { version: PROTOCOL_VERSION, nonce: bytes(32) }),
  encodeFrameHead(Op.Put, { id, size: 100, owner: bytes(32), signature: bytes(64) }),
  Buffer.concat([encodeFrameHead(Op.Data, {}, 64), bytes(64)]),
  encodeFrameHead(Op.Get, { id, offset: 0, length: 10 }),
  encodeFrameHead(Op.Audit, { id, indices: [0, 1, 2] }),
  encodeFrameHead(Op.Delete, { id, owner: bytes(32), timestamp: Date.now(), signature: bytes(64) }),
  encodeFrameHead(Op.Has, { ids: [id, id] }),
  encodeFrameHead(Op.Stat, {}),
  encodeFrameHead(Op.Error, { code: 'BATCHAIN_ERR_X', message: 'm' }),
  Buffer.concat([encodeFrameHead(Res.Get, { size: 32, offset: 0, length: 32 }, 32), bytes(32)])
]

function mutate (frame: Buffer): Buffer {
  const out = Buffer.from(frame)
  switch (int(6)) {
    case 0: for (let i = 0, n = 1 + int(4); i < n; i++) out[int(out.length)] = int(256); return out
    case 1: return out.subarray(0, int(out.length))
    case 2: return Buffer.concat([out, bytes(int(64))])
    case 3: out.writeUInt32BE(int(2 ** 32), 2 + 4 * int(3)); return out
    case 4: { const at = int(out.length); return Buffer.concat([out.subarray(0, at), bytes(1 + int(8)), out.subarray(at)]) }
    default: return bytes(1 + int(96))
  }
}

test(`decoder survives 120k random and mutated frames (seed ${seed})`, () => {
  const frames = 120_000
  let events = 0
  let errors = 0
  const started = Date.now()
  for (let n = 0; n < frames; n++) {
    const decoder = new FrameDecoder({ maxBodySize: 1 << 20 })
    // A stream of a few frames, some valid, some mutated, cut into random chunks.
    const parts: Buffer[] = []
    for (let i = 0, count = 1 + int(3); i < count; i++) {
      const t = templates[int(templates.length)] as Buffer
      parts.push(rand() < 0.7 ? mutate(t) : t)
    }
    const wire = Buffer.concat(parts)
    let at = 0
    try {
      while (at < wire.length) {
        const step = 1 + int(48)
        decoder.push(wire.subarray(at, at + step))
        at += step
        for (let ev = decoder.read(); ev !== undefined; ev = decoder.read()) {
          events++
          if (ev.kind === 'frame') {
            const schema = (schemas as Record<number, unknown>)[ev.frame.type]
            if (schema !== undefined) {
              try { parseHeader(ev.frame.type as keyof typeof schemas, ev.frame.header) } catch (err) {
                assert.ok(err instanceof BatchainError, `header error must be ours: ${String(err)}`)
              }
            }
          }
        }
        // Bounded: never more than one prefix + a max header buffered.
        assert.ok(decoder.pending <= 14 + 64 * 1024 + 48, `decoder buffered ${decoder.pending} bytes`)
      }
    } catch (err) {
      errors++
      assert.ok(err instanceof BatchainError, `decoder threw a foreign error (seed ${seed}, frame ${n}): ${String(err)}`)
      assert.match(err.code, /^BATCHAIN_ERR_/)
    }
  }
  assert.ok(events > frames, 'valid frames must decode into events')
  assert.ok(errors > frames / 10, 'mutations must be detected as errors')
  assert.ok(Date.now() - started < 120_000, 'fuzz run must not hang')
})

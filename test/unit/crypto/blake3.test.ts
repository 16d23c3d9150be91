import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { describe, test } from 'node:test'
import { createBLAKE3 } from 'hash-wasm'
import { blake3, blake3Backend, createKeyedBlake3 } from '../../../src/crypto/blake3.js'
import { hashLeaf, hashNode, pieceIdOf } from '../../../src/crypto/merkle.js'

/** The BLAKE3 test-vector input: byte i is i mod 251. */
function vectorInput (length: number): Buffer {
  const out = Buffer.alloc(length)
  for (let i = 0; i < length; i++) out[i] = i % 251
  return out
}

// Lengths around every BLAKE3 boundary: block (64), chunk (1024), several chunks, a 16 KiB leaf.
const LENGTHS = [0, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 2049, 3072, 8191, 16 * 1024, 16 * 1024 + 1, 100_000, 1 << 20]

describe('blake3', () => {
  test('the native build loads on this machine (the fast path is really taken)', () => {
    assert.equal(blake3Backend, 'native')
  })

  test('known answers: the empty input and the official vectors for 1 and 1024 bytes', () => {
    assert.equal(blake3(Buffer.alloc(0)).toString('hex'), 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262')
    assert.equal(blake3(vectorInput(1)).toString('hex'), '2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213')
    assert.equal(blake3(vectorInput(1024)).toString('hex'), '42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7')
  })

  test('the native and WebAssembly builds agree at every boundary length', async () => {
    const native = createRequire(import.meta.url)('@napi-rs/blake-hash') as { blake3: (b: Uint8Array) => Buffer }
    const wasm = await createBLAKE3(256)
    for (const length of LENGTHS) {
      const input = vectorInput(length)
      wasm.init()
      wasm.update(input)
      const expected = Buffer.from(wasm.digest('binary')).toString('hex')
      assert.equal(native.blake3(input).toString('hex'), expected, `native, ${length} bytes`)
      assert.equal(blake3(input).toString('hex'), expected, `ours, ${length} bytes`)
    }
  })

  test('keyed mode matches the native keyed hasher and differs from hash mode', async () => {
    const { Blake3Hasher } = createRequire(import.meta.url)('@napi-rs/blake-hash') as {
      Blake3Hasher: { newKeyed: (key: Buffer) => { update: (b: Uint8Array) => unknown, digestBuffer: () => Buffer } }
    }
    const key = vectorInput(32)
    const keyed = await createKeyedBlake3(key)
    for (const length of [0, 1, 64, 1025]) {
      const input = vectorInput(length)
      const reference = Blake3Hasher.newKeyed(key)
      reference.update(input)
      assert.equal(keyed(input).toString('hex'), reference.digestBuffer().toString('hex'), `${length} bytes`)
      // Split into parts: the same bytes, the same hash.
      assert.equal(keyed(input.subarray(0, length >> 1), input.subarray(length >> 1)).toString('hex'), reference.digestBuffer().toString('hex'))
      assert.notEqual(keyed(input).toString('hex'), blake3(input).toString('hex'))
    }
    await assert.rejects(createKeyedBlake3(Buffer.alloc(16)), /32 bytes/)
  })

  test('results are fresh buffers: a later hash does not overwrite an earlier one', () => {
    const a = hashNode(Buffer.alloc(32, 1), Buffer.alloc(32, 2))
    const copy = Buffer.from(a)
    hashNode(Buffer.alloc(32, 3), Buffer.alloc(32, 4))
    hashLeaf(Buffer.alloc(10, 5))
    assert.deepEqual(a, copy)
  })

  test('a leaf whose bytes are two child hashes does not hash like the inner node over them', () => {
    const left = hashLeaf(Buffer.from('left'))
    const right = hashLeaf(Buffer.from('right'))
    assert.notDeepEqual(hashLeaf(Buffer.concat([left, right])), hashNode(left, right))
  })

  test('a process forced onto WebAssembly (BATCHAIN_BLAKE3=wasm) computes the same piece ids', () => {
    const script = [
      "import { blake3Backend } from './src/crypto/blake3.ts'",
      "import { pieceIdOf } from './src/crypto/merkle.ts'",
      'const data = Buffer.alloc(100_000); for (let i = 0; i < data.length; i++) data[i] = i % 251',
      'console.log(JSON.stringify({ backend: blake3Backend, id: pieceIdOf(data) }))'
    ].join('\n')
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, BATCHAIN_BLAKE3: 'wasm' },
      encoding: 'utf8'
    })
    const child = JSON.parse(out) as { backend: string, id: string }
    assert.equal(child.backend, 'wasm')
    assert.equal(child.id, pieceIdOf(vectorInput(100_000)))
  })
})

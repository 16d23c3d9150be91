import { ErasureError } from '../core/errors.js'
import { CAUCHY_PARAMETERS } from './cauchy-parameters.js'

/**
 * The Cauchy Reed-Solomon bit-matrix code of @ronomon/reed-solomon 6.0.0, ported
 * line for line from its binding.c (MIT License, Copyright (c) Joran Dirk Greef).
 *
 * Why a port: parity bytes are stored on the network, so every machine must
 * compute the same parity. The npm alternatives (reed-solomon-erasure in WASM)
 * use a Vandermonde code over GF(2^8) and produce different parity (checked:
 * only k = 1 agrees), so they cannot decode what the native addon encoded.
 * This port builds the same bit matrix (tests compare it byte for byte with the
 * addon's `create(k, m)` context) and applies it the same way (same chunking),
 * so the two backends interoperate.
 *
 * A shard is split into w packets per stripe; each parity packet is the XOR of
 * the data packets selected by one row of the (m*w) x (k*w) bit matrix.
 */

export const RONOMON_MAX_K = 24
export const RONOMON_MAX_M = 6

interface Field {
  readonly w: number
  readonly log: Int32Array
  readonly exp: Int32Array
  /** Ones in the w x w bit matrix of each field element. */
  readonly bit: Int32Array
  /** Field elements sorted by fewest ones (ties: smallest value). */
  readonly min: Int32Array
}

function gMultiply (f: Field, a: number, b: number): number {
  if (a === 0 || b === 0) return 0
  const y = (1 << f.w) - 1
  return f.exp[((f.log[a] as number) + (f.log[b] as number)) % y] as number
}

function gDivide (f: Field, a: number, b: number): number {
  if (b === 0) throw new ErasureError('Division by zero in GF(2^w)')
  if (a === 0) return 0
  const y = (1 << f.w) - 1
  return f.exp[((f.log[a] as number) + y - (f.log[b] as number)) % y] as number
}

function createField (w: number, p: number): Field {
  const y = (1 << w) - 1
  const z = 1 << w
  const log = new Int32Array(z).fill(y)
  const exp = new Int32Array(z)
  let b = 1
  for (let a = 0; a < y; a++) {
    log[b] = a
    exp[a] = b
    b <<= 1
    if ((b & z) !== 0) b = (b ^ p) & y
  }
  const partial: Field = { w, log, exp, bit: new Int32Array(z), min: new Int32Array(z) }
  const bit = partial.bit
  for (let n = 0; n < z; n++) {
    let count = 0
    let v = n
    for (let r = 0; r < w; r++) {
      for (let c = 0; c < w; c++) count += (v & (1 << c)) !== 0 ? 1 : 0
      v = gMultiply(partial, v, 2)
    }
    bit[n] = count
  }
  const min = partial.min
  min[0] = 0
  for (let a = 1; a < z; a++) {
    const c = min[a - 1] as number
    let d = -1
    for (let e = 1; e < z; e++) {
      const be = bit[e] as number
      const bc = bit[c] as number
      if (be < bc) continue
      if (be === bc && e <= c) continue
      if (d === -1 || be < (bit[d] as number)) d = e
    }
    min[a] = d
  }
  return partial
}

/** The k x m coefficient matrix (row-major, m rows of k); row 0 is all ones (plain XOR parity). */
function createMatrix (f: Field, k: number, m: number, x: number, y: number): { matrix: Uint8Array, ones: number } {
  const matrix = new Uint8Array(m * k)
  const { bit, min } = f
  let count = (bit[1] as number) * k
  for (let c = 0; c < k; c++) matrix[c] = 1
  if (m === 2) {
    // Row 1: the field elements with the fewest ones in their bit matrices.
    for (let c = 0; c < k; c++) {
      matrix[k + c] = min[c + 1] as number
      count += bit[matrix[k + c] as number] as number
    }
  } else if (m > 2) {
    for (let r = 0; r < m; r++) {
      for (let c = 0; c < k; c++) matrix[r * k + c] = gDivide(f, 1, (y + r) ^ (x + c))
    }
    for (let r = 1; r < m; r++) {
      for (let c = 0; c < k; c++) matrix[r * k + c] = gDivide(f, matrix[r * k + c] as number, matrix[c] as number)
    }
    for (let c = 0; c < k; c++) matrix[c] = gDivide(f, matrix[c] as number, matrix[c] as number)
    for (let r = 1; r < m; r++) {
      const rk = r * k
      let result = 0
      let column = -1
      for (let c = 0; c < k; c++) result += bit[matrix[rk + c] as number] as number
      for (let c = 0; c < k; c++) {
        let bits = 0
        for (let d = 0; d < k; d++) bits += bit[gDivide(f, matrix[rk + d] as number, matrix[rk + c] as number)] as number
        if (bits < result) {
          result = bits
          column = matrix[rk + c] as number
        }
      }
      if (column >= 0) {
        for (let c = 0; c < k; c++) matrix[rk + c] = gDivide(f, matrix[rk + c] as number, column)
      }
      count += result
    }
  }
  return { matrix, ones: count }
}

/**
 * The encoding context: [w, k, m, ...bitmatrix] with the bit matrix as m*w rows of
 * k*w bits (one byte each) — the same bytes as the native addon's `create(k, m)`.
 */
export function createContext (k: number, m: number): Uint8Array {
  const params = CAUCHY_PARAMETERS[k - 1]?.[m - 1]
  if (params === undefined) throw new ErasureError(`No Cauchy parameters for k=${k}, m=${m}`)
  const [w, p, x, y, expectedOnes] = params
  const f = createField(w, p)
  const { matrix, ones } = createMatrix(f, k, m, x, y)
  const kw = k * w
  const context = new Uint8Array(3 + m * w * kw)
  context[0] = w
  context[1] = k
  context[2] = m
  const bitmatrix = context.subarray(3)
  let count = 0
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < k; c++) {
      let v = matrix[k * r + c] as number
      for (let a = 0; a < w; a++) {
        for (let b = 0; b < w; b++) {
          const one = (v & (1 << b)) !== 0 ? 1 : 0
          bitmatrix[r * w * kw + w * c + a + kw * b] = one
          count += one
        }
        v = gMultiply(f, v, 2)
      }
    }
  }
  // The parameter table records how many ones the matrix must have: a cheap
  // guard that this port still builds the addon's exact code.
  if (ones !== expectedOnes || count !== expectedOnes) {
    throw new ErasureError(`Bit matrix self-check failed for k=${k}, m=${m}`, { details: { ones, count, expectedOnes } })
  }
  return context
}

/** Inverts an n x n matrix over GF(2) (one byte per bit) by Gauss-Jordan elimination; destroys `source`. */
function invertBitmatrix (source: Uint8Array, n: number): Uint8Array {
  const target = new Uint8Array(n * n)
  for (let i = 0; i < n; i++) target[i * n + i] = 1
  const swapRows = (a: number, b: number): void => {
    for (let j = 0; j < n; j++) {
      const s = source[a * n + j] as number
      source[a * n + j] = source[b * n + j] as number
      source[b * n + j] = s
      const t = target[a * n + j] as number
      target[a * n + j] = target[b * n + j] as number
      target[b * n + j] = t
    }
  }
  const addRow = (from: number, to: number): void => {
    for (let j = 0; j < n; j++) {
      source[to * n + j] = (source[to * n + j] as number) ^ (source[from * n + j] as number)
      target[to * n + j] = (target[to * n + j] as number) ^ (target[from * n + j] as number)
    }
  }
  for (let c = 0; c < n; c++) {
    if (source[c * n + c] === 0) {
      let r = c + 1
      while (r < n && source[r * n + c] === 0) r++
      if (r === n) throw new ErasureError('Decoding matrix is singular (corrupt erasure context)')
      swapRows(c, r)
    }
    for (let r = c + 1; r < n; r++) if (source[r * n + c] !== 0) addRow(c, r)
  }
  for (let r = n - 1; r >= 0; r--) {
    for (let c = 0; c < r; c++) if (source[c * n + r] !== 0) addRow(r, c)
  }
  return target
}

/**
 * The (k*w) x (k*w) decoding bit matrix that rebuilds all data shards from the
 * k shards listed in `sourceIndex` (data indices < k are identity rows).
 */
export function createDecodingBitmatrix (w: number, k: number, sourceIndex: readonly number[], encoding: Uint8Array): Uint8Array {
  const kw = k * w
  const kww = k * w * w
  const matrix = new Uint8Array(kw * kw)
  for (let a = 0; a < k; a++) {
    const s = sourceIndex[a] as number
    if (s < k) {
      let index = kww * a + s * w
      for (let b = 0; b < w; b++) {
        matrix[index] = 1
        index += kw + 1
      }
    } else {
      matrix.set(encoding.subarray(kww * (s - k), kww * (s - k + 1)), kww * a)
    }
  }
  return invertBitmatrix(matrix, kw)
}

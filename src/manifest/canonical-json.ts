/**
 * Canonical JSON: object keys sorted (by UTF-16 code units), no whitespace. The
 * manifest's address is a hash of its bytes, so one manifest must always encode
 * to the same bytes whatever order its fields were built in.
 * Only plain JSON values are accepted (no undefined, functions, Buffers, NaN).
 */
export function canonicalJson (value: unknown): string {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value)
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('Canonical JSON cannot hold non-finite numbers')
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const record = value as Record<string, unknown>
    const keys = Object.keys(record).filter(key => record[key] !== undefined).sort()
    return `{${keys.map(key => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(',')}}`
  }
  throw new TypeError(`Canonical JSON cannot hold a ${typeof value}`)
}

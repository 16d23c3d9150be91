import bytes from 'bytes'
import { InvalidArgumentError } from './errors.js'

/** Parses "10GiB", "512MB", "1024" (bytes) into a byte count; units are binary (1 GB = 1 GiB), as `bytes` does. */
export function parseSize (text: string): number {
  const normalised = text.trim().replace(/([kmgtp])ib$/i, '$1b')
  const value = /^\d+$/.test(normalised) ? Number(normalised) : bytes.parse(normalised)
  if (value === null || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`Not a size: ${JSON.stringify(text)} (try 500MiB or 10GiB)`)
  }
  return value
}

export function formatSize (n: number): string {
  return bytes.format(n, { unitSeparator: ' ', decimalPlaces: 1 })?.replace(/([KMGTP])B$/, '$1iB') ?? `${n} B`
}

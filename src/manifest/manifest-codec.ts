import { InvalidManifestError } from '../core/errors.js'
import { canonicalJson } from './canonical-json.js'
import type { Manifest } from './manifest.js'
import { MAX_MANIFEST_SIZE, validateManifest } from './manifest-schema.js'

/**
 * Encodes a manifest as canonical UTF-8 JSON (sorted keys, no whitespace), so the
 * same manifest always has the same bytes and thus the same address. The manifest
 * is validated first: what this returns always decodes.
 */
export function encodeManifest (manifest: Manifest): Buffer {
  const bytes = Buffer.from(canonicalJson(validateManifest(manifest)), 'utf8')
  if (bytes.length > MAX_MANIFEST_SIZE) {
    throw new InvalidManifestError(`Manifest is ${bytes.length} bytes, more than the ${MAX_MANIFEST_SIZE} allowed`, { details: { size: bytes.length } })
  }
  return bytes
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Decodes and validates untrusted manifest bytes; InvalidManifestError says which path is wrong. */
export function decodeManifest (bytes: Uint8Array): Manifest {
  if (!(bytes instanceof Uint8Array)) throw new InvalidManifestError('Manifest must be given as bytes')
  if (bytes.length > MAX_MANIFEST_SIZE) {
    throw new InvalidManifestError(`Manifest is ${bytes.length} bytes, more than the ${MAX_MANIFEST_SIZE} allowed`, { details: { size: bytes.length } })
  }
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch (err) {
    throw new InvalidManifestError('Manifest is not valid UTF-8', { cause: err })
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new InvalidManifestError(`Manifest is not JSON: ${(err as Error).message}`, { cause: err })
  }
  return validateManifest(value)
}

/**
 * The exact bytes that get signed. Each starts with a distinct context string
 * so a signature made for one purpose can never be replayed as another.
 */

const enc = (s: string): Buffer => Buffer.from(s, 'utf8')

/** Node proves its identity by signing the client's fresh nonce. */
export function helloSigningBytes (clientNonce: Uint8Array): Buffer {
  return Buffer.concat([enc('batchain hello v1\0'), clientNonce])
}

/** Owner authorises storing piece `id` of `size` bytes under its key. */
export function putSigningBytes (id: string, size: number): Buffer {
  return enc(`batchain put v1\0${id}\0${size}`)
}

/** Owner authorises deleting piece `id` on node `nodeId` at `timestamp` (bound to one node and a time window). */
export function deleteSigningBytes (nodeId: string, id: string, timestamp: number): Buffer {
  return enc(`batchain delete v1\0${nodeId}\0${id}\0${timestamp}`)
}

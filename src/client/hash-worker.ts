import { createHash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import { encryptSegmentInto } from '../crypto/aead.js'
import { pieceIdOf } from '../crypto/merkle.js'

/**
 * The upload's hashing thread (see hasher.ts): the whole-file SHA-256 and the pieces'
 * Merkle roots, over segment memory shared with the main thread (SharedArrayBuffer), so
 * nothing is copied; and an upload's segment encryption (`seal`), whose cipher output
 * buffers are garbage in this thread's small heap instead of the main one's (there they
 * set off a full collection every few dozen megabytes). The data key is handed to this
 * thread of the same process, never to another process. Messages are handled in order,
 * which keeps the file hash in order.
 */
export type HashRequest =
  | { op: 'file', id: number, sab: SharedArrayBuffer, offset: number, length: number }
  | { op: 'pieces', id: number, sab: SharedArrayBuffer, offset: number, shardSize: number, count: number }
  | { op: 'digest', id: number }
  | { op: 'seal', id: number, key: Uint8Array, index: number, final: boolean, sab: SharedArrayBuffer, offset: number, length: number, outSab: SharedArrayBuffer, outOffset: number, outLength: number }

export type HashReply = { id: number, ids?: string[], hex?: string, error?: string }

const port = parentPort
if (port !== null) {
  const file = createHash('sha256')
  port.on('message', (m: HashRequest) => {
    try {
      if (m.op === 'file') {
        file.update(new Uint8Array(m.sab, m.offset, m.length))
        port.postMessage({ id: m.id } satisfies HashReply)
      } else if (m.op === 'pieces') {
        const ids: string[] = []
        for (let j = 0; j < m.count; j++) ids.push(pieceIdOf(new Uint8Array(m.sab, m.offset + j * m.shardSize, m.shardSize)))
        port.postMessage({ id: m.id, ids } satisfies HashReply)
      } else if (m.op === 'seal') {
        encryptSegmentInto(m.key, m.index, new Uint8Array(m.sab, m.offset, m.length), m.final, new Uint8Array(m.outSab, m.outOffset, m.outLength))
        port.postMessage({ id: m.id } satisfies HashReply)
      } else {
        port.postMessage({ id: m.id, hex: file.digest('hex') } satisfies HashReply)
      }
    } catch (err) {
      port.postMessage({ id: m.id, error: (err as Error).message } satisfies HashReply)
    }
  })
}

/**
 * Child process for the crash test in disk-store.test.ts: opens the store in argv[2] and
 * streams a 32 MiB piece very slowly, printing "writing" once bytes reach the temp file.
 * The parent SIGKILLs it mid-put. Not a test file (no .test.ts suffix).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { pieceIdOf } from '../../../src/crypto/merkle.js'
import { createDiskStore } from '../../../src/store/index.js'

const dir = process.argv[2]
if (dir === undefined) throw new Error('usage: crash-child.ts <dir>')
const data = Buffer.alloc(32 * 1024 * 1024, 1)
const id = pieceIdOf(data)
const store = await createDiskStore({ dir, capacity: 64 * 1024 * 1024 })
async function * body (): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; at += 64 * 1024) {
    yield data.subarray(at, at + 64 * 1024)
    if (at === 64 * 1024) process.stdout.write('writing\n')
    await sleep(50)
  }
}
await store.put(id, data.length, body(), { owner: 'ab'.repeat(32) })

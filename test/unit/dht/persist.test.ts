import assert from 'node:assert/strict'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { generateIdentity } from '../../../src/crypto/keys.js'
import { dhtKeyOf } from '../../../src/dht/keys.js'
import { loadPeers, loadPointers, PEERS_FILE, savePeers } from '../../../src/dht/peers-file.js'
import { DebouncedSaver, readJsonFile, writeJsonAtomic } from '../../../src/dht/persist.js'
import type { Contact } from '../../../src/dht/wire.js'
import { withTempDir } from '../../helpers/tmp.js'

const contact = (role: 'storage' | 'client' = 'storage'): Contact => {
  const id = generateIdentity()
  return [dhtKeyOf(id.id), { hostname: '127.0.0.1', port: 4000, pub: id.publicKey.toString('base64url'), role }]
}

describe('DHT persistence', () => {
  test('writeJsonAtomic replaces the file and leaves no temp files', async () => {
    await withTempDir('dht-persist', async dir => {
      const file = join(dir, 'sub', 'x.json')
      await writeJsonAtomic(file, { a: 1 })
      await writeJsonAtomic(file, { a: 2 })
      assert.deepEqual(await readJsonFile(file), { a: 2 })
      assert.deepEqual(await readdir(join(dir, 'sub')), ['x.json'])
      assert.equal(await readJsonFile(join(dir, 'missing.json')), undefined)
    })
  })

  test('peers file keeps only valid, binding server contacts', async () => {
    await withTempDir('dht-persist', async dir => {
      const good = contact()
      const wrongKey: Contact = [contact()[0], good[1]]
      await savePeers(dir, [good, contact('client'), wrongKey])
      assert.deepEqual(await loadPeers(dir), [good])
      await writeFile(join(dir, PEERS_FILE), '{"format":1,"peers":[1,"x",null,[1,2]]}')
      assert.deepEqual(await loadPeers(dir), [])
      await writeFile(join(dir, PEERS_FILE), 'not json')
      await assert.rejects(loadPeers(dir))
      assert.deepEqual(await loadPointers(dir), [])
    })
  })

  test('DebouncedSaver coalesces changes and flushes on stop', async () => {
    await withTempDir('dht-persist', async dir => {
      let saves = 0
      let value = 0
      const file = join(dir, 'v.json')
      const saver = new DebouncedSaver(async () => { saves++; await writeJsonAtomic(file, value) }, 10_000, () => {})
      for (value = 1; value <= 50; value++) saver.touch()
      value = 50
      await saver.flush()
      assert.equal(saves, 1)
      assert.equal(await readFile(file, 'utf8'), '50')
      await saver.flush()
      assert.equal(saves, 1, 'nothing changed since')
      saver.touch()
      value = 51
      await saver.stop()
      assert.equal(saves, 2)
      saver.touch()
      await saver.flush()
      assert.equal(saves, 2, 'touches after stop are ignored')
    })
  })
})

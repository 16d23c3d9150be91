import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { silentLogger } from '../../src/core/logger.js'
import { generateIdentity } from '../../src/crypto/keys.js'
import { createDht, type Dht } from '../../src/dht/index.js'
import { spawnNode, stopNode, type NodeProcess } from '../helpers/nodes.js'
import { tempDir, type TempDir } from '../helpers/tmp.js'

/**
 * A process whose event loop stalls (a long synchronous task) past its RPC deadline: the answers
 * that arrived meanwhile still count, so its peers are not evicted for its own stall. The peer is a
 * real node in another process, which keeps answering while this one is blocked.
 */
describe('DHT requests across a stalled event loop', () => {
  let tmp: TempDir
  let peer: NodeProcess
  let client: Dht
  before(async () => {
    tmp = await tempDir('dht-stall')
    peer = await spawnNode('peer', join(tmp.dir, 'peer'), { role: 'bootstrap' })
    client = await createDht({ identity: generateIdentity(), role: 'client', host: '127.0.0.1', port: 0, rpcTimeoutMs: 200, infoCacheMs: 0, logger: silentLogger() })
  })
  after(async () => {
    await client?.stop()
    if (peer !== undefined) await stopNode(peer)
    await tmp?.[Symbol.asyncDispose]()
  })

  test('an answer that arrived while the loop was blocked past the deadline is taken, not timed out', async () => {
    const [host, port] = peer.dhtContact.split(':')
    const address = { host: host as string, port: Number(port) }
    await client.info(address) // warm: the peer answers in well under the deadline
    for (let round = 0; round < 3; round++) {
      const pending = client.info(address)
      await nextTurn() // the request is on the wire
      const until = Date.now() + 600
      while (Date.now() < until) { /* blocked: 3 deadlines long */ }
      const info = await pending
      assert.equal(info.role, 'bootstrap')
    }
  })

  test('a peer that does not answer still times out', async () => {
    await assert.rejects(client.info({ host: '127.0.0.1', port: 9 }), (err: Error & { code?: string }) => err.code === 'BATCHAIN_ERR_DHT_TIMEOUT')
  })
})

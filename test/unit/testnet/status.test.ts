import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { MiB } from '../../../src/core/constants.js'
import { generateIdentity } from '../../../src/crypto/keys.js'
import { createMemoryStore } from '../../../src/store/index.js'
import { createTestnetSupervisor, processStartTime, saveTestnet, type TestnetState } from '../../../src/testnet/index.js'
import { createPieceServer, type PieceServer } from '../../../src/transfer/index.js'
import { startDhtNode, type DhtNode } from '../../helpers/dht.js'
import { tempDir, type TempDir } from '../../helpers/tmp.js'

/**
 * Status probes against real servers in this process: a piece server (storage: PING with the node
 * id checked at the handshake) and a bootstrap KadNode (DHT INFO, verified, with its node id). The
 * state names this process's pid, so the processes count as alive and only the probes decide.
 */
describe('testnet status probes', () => {
  let tmp: TempDir
  let server: PieceServer
  let bootstrap: DhtNode
  const storageIdentity = generateIdentity()

  before(async () => {
    tmp = await tempDir('testnet-status')
    server = createPieceServer({ store: createMemoryStore({ capacity: 16 * MiB }), identity: storageIdentity })
    await server.start()
    bootstrap = await startDhtNode({ role: 'bootstrap' })
  })
  after(async () => {
    await server?.stop()
    await bootstrap?.dht.stop()
    await tmp?.[Symbol.asyncDispose]()
  })

  function state (overrides: { storageId?: string, bootstrapId?: string, piecePort?: number, dhtPort?: number, pid?: number } = {}): TestnetState {
    const now = new Date().toISOString()
    const pid = overrides.pid ?? process.pid
    const procStart = processStartTime(pid)
    const common = (name: string) => ({ name, pid, ...(procStart === undefined ? {} : { procStart }), host: '127.0.0.1', dataDir: join(tmp.dir, 'nodes', name), logFile: join(tmp.dir, 'logs', `${name}.log`), startedAt: now })
    return {
      version: 1,
      dir: tmp.dir,
      status: 'running',
      createdAt: now,
      processes: [
        { ...common('bootstrap-0'), role: 'bootstrap', nodeId: overrides.bootstrapId ?? bootstrap.dht.nodeId, dhtPort: overrides.dhtPort ?? bootstrap.dht.address().port },
        { ...common('node-0'), role: 'storage', nodeId: overrides.storageId ?? storageIdentity.id, port: overrides.piecePort ?? server.address().port, dhtPort: 1 }
      ]
    }
  }

  test('answering processes are online', async () => {
    await saveTestnet(tmp.dir, state())
    const status = await createTestnetSupervisor({ dir: tmp.dir }).status()
    assert.equal(status.total, 2)
    assert.equal(status.online, 2, JSON.stringify(status.processes))
    for (const p of status.processes) {
      assert.equal(p.alive, true)
      assert.equal(p.online, true)
      assert.equal(p.reason, undefined)
    }
  })

  test('another node answering on the recorded ports is not online', async () => {
    await saveTestnet(tmp.dir, state({ storageId: 'c'.repeat(64), bootstrapId: 'd'.repeat(64) }))
    const status = await createTestnetSupervisor({ dir: tmp.dir }).status()
    assert.equal(status.online, 0)
    for (const p of status.processes) {
      assert.equal(p.alive, true)
      assert.equal(p.online, false)
      assert.match(p.reason ?? '', /^not answering: /)
    }
    assert.match(status.processes[0]!.reason ?? '', /another node answers/)
  })

  test('nothing listening on the recorded ports: not online, within the probe deadline', async () => {
    const closed = createPieceServer({ store: createMemoryStore({ capacity: MiB }), identity: generateIdentity() })
    await closed.start()
    const port = closed.address().port
    await closed.stop()
    const silent = await startDhtNode({ role: 'bootstrap' })
    const dhtPort = silent.dht.address().port
    await silent.dht.stop()
    await saveTestnet(tmp.dir, state({ piecePort: port, dhtPort }))
    const status = await createTestnetSupervisor({ dir: tmp.dir, probeTimeoutMs: 500 }).status()
    assert.deepEqual(status.processes.map(p => [p.name, p.alive, p.online]), [['bootstrap-0', true, false], ['node-0', true, false]])
  })
})

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { sha256File, writeRandomFile } from '../helpers/files.js'
import { restartNode, spawnNode, spawnNodes, stopNode, stopNodes, type NodeProcess } from '../helpers/nodes.js'
import { tempDir, type TempDir } from '../helpers/tmp.js'

interface AuditPiece { segment: number, shard: number, pieceId: string, node?: string, nodeId?: string, state: string }

/**
 * Discovery end to end with real processes: 2 bootstraps and 20 storage nodes on loopback. Clients
 * know only a bootstrap address; everything else (placement, pointer records, holder addresses)
 * comes from the DHT.
 */
describe('a 20-node network found through the DHT', () => {
  let tmp: TempDir
  let bootstraps: NodeProcess[] = []
  let nodes: NodeProcess[] = []
  let env: NodeJS.ProcessEnv
  let file: string
  let sha256: string
  let capability = ''

  before(async () => {
    tmp = await tempDir('discovery')
    env = { BATCHAIN_HOME: join(tmp.dir, 'home') }
    const first = await spawnNode('bootstrap-0', join(tmp.dir, 'bootstrap-0'), { role: 'bootstrap' })
    const second = await spawnNode('bootstrap-1', join(tmp.dir, 'bootstrap-1'), { role: 'bootstrap', bootstrap: [first.dhtContact] })
    bootstraps = [first, second]
    nodes = await spawnNodes(20, join(tmp.dir, 'nodes'), { capacity: '256MiB', bootstrap: bootstraps.map(b => b.dhtContact) })
    file = join(tmp.dir, 'file.bin')
    // 6 segments of 1 MiB: 36 pieces spread over the 20 nodes.
    await writeRandomFile(file, 6 * (1 << 20) - 1234)
    sha256 = await sha256File(file)
  })

  after(async () => {
    await stopNodes(nodes)
    await stopNodes(bootstraps)
    await tmp?.[Symbol.asyncDispose]()
  })

  async function download (via: NodeProcess, label: string): Promise<void> {
    const out = join(tmp.dir, `${label}.out`)
    const res = await runCli(['download', capability, '-o', out, '--bootstrap', via.dhtContact, '--json'], { env })
    assert.equal(res.code, 0, `download (${label}) failed: ${res.stderr}`)
    assert.equal(await sha256File(out), sha256, `${label}: bytes differ`)
  }

  async function audit (): Promise<AuditPiece[]> {
    const res = await runCli(['audit', capability, '--now', '--bootstrap', bootstraps[1]?.dhtContact ?? '', '--json'], { env })
    assert.ok(res.code === 0 || res.code === 3, `audit failed to run: ${res.stderr}`)
    return res.json.pieces as AuditPiece[]
  }

  function byContact (contact: string | undefined): NodeProcess {
    const node = nodes.find(n => n.contact === contact)
    assert.ok(node !== undefined, `no storage node at ${String(contact)}`)
    return node
  }

  test('upload through one bootstrap, download through the other', async () => {
    const up = await runCli(['upload', file, '--bootstrap', bootstraps[0]?.dhtContact ?? '', '--segment-size', '1MiB', '--json'], { env })
    assert.equal(up.code, 0, `upload failed: ${up.stderr}`)
    capability = up.json.capability
    assert.equal(up.json.segments, 6)
    await download(bootstraps[1] as NodeProcess, 'first')
    const pieces = await audit()
    assert.equal(pieces.length, 36)
    assert.ok(pieces.every(p => p.state === 'ok'), 'every piece answers its audit')
    for (let s = 0; s < 6; s++) {
      const holders = pieces.filter(p => p.segment === s).map(p => p.node)
      assert.equal(new Set(holders).size, 6, `segment ${s} is on 6 distinct nodes`)
    }
    assert.ok(new Set(pieces.map(p => p.node)).size >= 10, 'pieces spread over the network')
  })

  test('3 holders restart on new ports: found by node id, every piece still audits', async () => {
    const pieces = await audit()
    const holders = [...new Set(pieces.filter(p => p.segment === 0).map(p => p.node))].slice(0, 3).map(byContact)
    const oldContacts = holders.map(h => h.contact)
    for (const node of holders) await restartNode(node, { capacity: '256MiB', bootstrap: bootstraps.map(b => b.dhtContact) })
    assert.ok(holders.every((h, i) => h.contact !== oldContacts[i]), 'new ports')
    const after = await audit()
    assert.ok(after.every(p => p.state === 'ok'), `every piece audits after the restarts: ${JSON.stringify(after.filter(p => p.state !== 'ok'))}`)
    for (const h of holders) assert.ok(after.some(p => p.node === h.contact), `a restarted node answers at its new address ${h.contact}`)
    await download(bootstraps[0] as NodeProcess, 'after-restart')
  })

  test('2 holders of one segment stop: the file still downloads', async () => {
    const pieces = await audit()
    const victims = [...new Set(pieces.filter(p => p.segment === 3).map(p => p.node))].slice(0, 2).map(byContact)
    for (const v of victims) await stopNode(v)
    await download(bootstraps[1] as NodeProcess, 'two-down')
    const after = await audit()
    assert.equal(after.filter(p => p.segment === 3 && p.state === 'ok').length, 4)
  })

  test('a node whose DHT port is taken fails with one line, and nothing of it keeps running', async () => {
    const socket = createSocket('udp4')
    socket.bind(0, '127.0.0.1')
    await once(socket, 'listening')
    try {
      const res = await runCli(['node', 'start', '--data-dir', join(tmp.dir, 'taken'), '--dht-port', String(socket.address().port), '--capacity', '1GiB'], { timeoutMs: 60_000 })
      assert.equal(res.code, 1)
      assert.match(res.stderr, /^batchain: .*EADDRINUSE.*$/m)
    } finally {
      socket.close()
    }
  })
})

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { sha256File, writeRandomFile } from '../helpers/files.js'
import { contacts, flipStoredByte, spawnNodes, stopNode, stopNodes, type NodeProcess } from '../helpers/nodes.js'
import { tempDir, type TempDir } from '../helpers/tmp.js'

/**
 * `batchain repair --now` over a static node list (7 real BatNode processes, the file on the first
 * 6): repair does not hash the pieces it fetches, it checks what it rebuilds — so a silently
 * corrupted piece among those it fetched must be caught there, named, avoided, and the rebuilt
 * piece still come out right.
 */
interface AuditPiece { segment: number, shard: number, pieceId: string, node: string }

describe('repair --now', () => {
  let tmp: TempDir
  let nodes: NodeProcess[]
  let env: NodeJS.ProcessEnv
  let source = ''
  before(async () => {
    tmp = await tempDir('repair')
    nodes = await spawnNodes(7, join(tmp.dir, 'nodes'))
    env = { BATCHAIN_HOME: join(tmp.dir, 'home'), BATCHAIN_LOG_LEVEL: 'warn' }
    source = join(tmp.dir, 'source.bin')
    await writeRandomFile(source, 3 * 1024 * 1024 + 777)
  })
  after(async () => {
    await stopNodes(nodes ?? [])
    await tmp?.[Symbol.asyncDispose]()
  })

  test('a corrupted piece among those fetched to rebuild a lost one is caught by the rebuilt piece\'s id, avoided, and the repair comes out right', async () => {
    const up = await runCli(['upload', source, '--nodes', contacts(nodes.slice(0, 6)), '--segment-size', '1MiB', '--json'], { env })
    assert.equal(up.code, 0, up.stderr)
    const capability = up.json.capability as string
    const audit = await runCli(['audit', capability, '--now', '--nodes', contacts(nodes), '--json'], { env })
    assert.equal(audit.code, 0, audit.stderr)
    const pieces = audit.json.pieces as AuditPiece[]
    // Segment 0 loses shard 5 (a parity piece: its node stops) and shard 0 (a data shard, which
    // repair fetches first) is flipped on disk, where nothing has noticed it yet.
    const lost = pieces.find(p => p.segment === 0 && p.shard === 5)
    const flipped = pieces.find(p => p.segment === 0 && p.shard === 0)
    assert.ok(lost !== undefined && flipped !== undefined)
    const gone = nodes.find(n => n.contact === lost.node) as NodeProcess
    const corrupt = nodes.find(n => n.contact === flipped.node) as NodeProcess
    await flipStoredByte(corrupt, flipped.pieceId, { fraction: 1 / 3, mask: 0x5a })
    await stopNode(gone)
    const running = nodes.filter(n => n !== gone)

    const repair = await runCli(['repair', capability, '--now', '--segment', '0', '--nodes', contacts(running), '--json'], { env })
    assert.equal(repair.code, 0, repair.stderr)
    assert.equal(repair.json.failed.length, 0)
    const [segment] = repair.json.repaired as Array<{ segment: number, rebuilt: number, goodAfter: number }>
    assert.equal(segment?.rebuilt, 1)
    assert.equal(segment?.goodAfter, 6)
    assert.match(repair.stderr, /did not match its id/, 'the bad piece was found by its id after the rebuilt one did not match')
    assert.ok(repair.stderr.includes(flipped.pieceId), 'and named')

    // Every leaf of every piece challenged: the rebuilt shard 5 answers on the node that had none
    // of the segment, and the only failure is the flipped piece (a health check with audit
    // results would now have it repaired too).
    const full = await runCli(['audit', capability, '--now', '--nodes', contacts(running), '--leaves', '64', '--json'], { env })
    assert.equal(full.code, 3, full.stderr)
    const after = full.json.pieces as Array<AuditPiece & { state: string }>
    const rebuilt = after.find(p => p.segment === 0 && p.shard === 5)
    assert.equal(rebuilt?.state, 'ok')
    assert.equal(rebuilt?.node, nodes[6]?.contact, 'on the seventh node')
    assert.deepEqual(after.filter(p => p.state === 'failed').map(p => p.pieceId), [flipped.pieceId])
    await stopNode(corrupt)
    const out = join(tmp.dir, 'out.bin')
    const down = await runCli(['download', capability, '-o', out, '--nodes', contacts(running.filter(n => n !== corrupt)), '--json'], { env })
    assert.equal(down.code, 0, down.stderr)
    assert.equal(await sha256File(out), await sha256File(source))
  })
})

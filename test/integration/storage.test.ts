import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { DEFAULT_SEGMENT_SIZE } from '../../src/core/constants.js'
import { parseCapability } from '../../src/crypto/capability.js'
import { PieceClient, parseContact } from '../../src/transfer/index.js'
import type { PieceId } from '../../src/core/ids.js'
import { runCli, type CliResult } from '../helpers/cli.js'
import { sha256File, writeRandomFile } from '../helpers/files.js'
import { contacts, flipStoredByte, restartNode, spawnNodes, stopNode, stopNodes, type NodeProcess } from '../helpers/nodes.js'
import { tempDir, type TempDir } from '../helpers/tmp.js'

/**
 * Six real BatNode processes on loopback; files go up and come back through
 * the CLI exactly as a user runs it.
 */
describe('storage network of 6 nodes', () => {
  let tmp: TempDir
  let nodes: NodeProcess[]
  let env: NodeJS.ProcessEnv
  const files = new Map<string, { path: string, sha256: string, capability: string }>()
  const sizes: Record<string, number> = { empty: 0, one: 1, mibPlusOne: (1 << 20) + 1, big: 200 * (1 << 20) }

  before(async () => {
    tmp = await tempDir('storage')
    nodes = await spawnNodes(6, join(tmp.dir, 'nodes'))
    env = { BATCHAIN_HOME: join(tmp.dir, 'home') }
    for (const [name, size] of Object.entries(sizes)) {
      const path = join(tmp.dir, `${name}.bin`)
      await writeRandomFile(path, size)
      files.set(name, { path, sha256: await sha256File(path), capability: '' })
    }
  })

  after(async () => {
    await stopNodes(nodes ?? [])
    await tmp?.[Symbol.asyncDispose]()
  })

  async function download (name: string, suffix: string, nodeList = contacts(nodes)): Promise<{ json: CliResult["json"], out: string }> {
    const file = files.get(name)
    assert.ok(file !== undefined)
    const out = join(tmp.dir, `${name}.${suffix}.out`)
    const res = await runCli(['download', file.capability, '-o', out, '--nodes', nodeList, '--json'], { env })
    assert.equal(res.code, 0, `download ${name} failed: ${res.stderr}`)
    assert.equal(await sha256File(out), file.sha256, `${name} came back different`)
    return { json: res.json, out }
  }

  test('uploads files of 0 B, 1 B, 1 MiB + 1 B and 200 MiB and downloads identical bytes', async () => {
    for (const [name, file] of files) {
      const res = await runCli(['upload', file.path, '--nodes', contacts(nodes), '--json'], { env })
      assert.equal(res.code, 0, `upload ${name} failed: ${res.stderr}`)
      assert.match(res.json.capability, /^batchain:r1:[0-9a-f]{64}:[A-Za-z0-9_-]{43}$/)
      assert.equal(res.json.size, sizes[name])
      assert.equal(res.json.sha256, file.sha256)
      file.capability = res.json.capability
    }
    for (const name of files.keys()) await download(name, 'first')
    const ls = await runCli(['ls', '--json'], { env })
    assert.equal(ls.code, 0)
    assert.equal(ls.json.uploads.length, files.size)
  })

  test('pieces of a segment sit on distinct nodes', async () => {
    const client = new PieceClient()
    try {
      const big = files.get('big')
      assert.ok(big !== undefined)
      const manifestId = parseCapability(big.capability).manifestId
      const holders = await Promise.all(nodes.map(async n => await client.has(parseContact(n.contact), [manifestId])))
      assert.ok(holders.filter(h => h.have[0] === true).length >= 3, 'the manifest is replicated')
      const audit = await runCli(['audit', big.capability, '--now', '--nodes', contacts(nodes), '--json'], { env })
      assert.equal(audit.code, 0, audit.stderr)
      const bySegment = new Map<number, Set<string>>()
      for (const p of audit.json.pieces) {
        const set = bySegment.get(p.segment) ?? new Set<string>()
        set.add(p.node)
        bySegment.set(p.segment, set)
      }
      assert.equal(bySegment.size, Math.ceil((sizes.big as number) / DEFAULT_SEGMENT_SIZE), 'one segment per DEFAULT_SEGMENT_SIZE bytes')
      for (const [segment, set] of bySegment) assert.equal(set.size, 6, `segment ${segment} reuses a node`)
    } finally {
      client.close()
    }
  })

  test('k=1 stores whole copies and survives the loss of m of them', async () => {
    const path = files.get('mibPlusOne')?.path as string
    const res = await runCli(['upload', path, '--nodes', contacts(nodes), '--data-shards', '1', '--parity-shards', '2', '--json'], { env })
    assert.equal(res.code, 0, res.stderr)
    assert.equal(res.json.pieces, 3)
    const copies = { ...(files.get('mibPlusOne') as { path: string, sha256: string }), capability: res.json.capability as string }
    files.set('copies', copies)
    // The three copies are byte-identical ciphertext (k=1 parity is the data itself).
    const audit = await runCli(['audit', copies.capability, '--now', '--nodes', contacts(nodes), '--json'], { env })
    const ids = new Set(audit.json.pieces.map((p: { pieceId: string }) => p.pieceId))
    assert.equal(ids.size, 1)
    const holders = audit.json.pieces.map((p: { node: string }) => p.node) as string[]
    const survivors = nodes.filter(n => !holders.slice(0, 2).includes(n.contact))
    await download('copies', 'copies', contacts(survivors))
  })

  test('a node that dies mid-upload is replaced; the file is whole', async () => {
    const big = files.get('big') as { path: string, sha256: string }
    const victim = nodes[5] as NodeProcess
    // 3+2 over 6 nodes leaves one spare; 1 MiB segments keep puts going to every node throughout.
    const upload = runCli(['upload', big.path, '--nodes', contacts(nodes), '--data-shards', '3', '--parity-shards', '2', '--segment-size', '1MiB', '--json'], { env })
    await new Promise(resolve => setTimeout(resolve, 500))
    await stopNode(victim, 'SIGKILL')
    const res = await upload
    assert.equal(res.code, 0, res.stderr)
    assert.ok(res.json.failures.some((f: { node: string }) => f.node === victim.contact), `the killed node was replaced: ${JSON.stringify(res.json.failures)}`)
    files.set('midway', { ...big, capability: res.json.capability })
    await download('midway', 'midway')
    await restartNode(victim)
  })

  test('any 2 nodes stopped: every file still downloads', async () => {
    const stopped = [nodes[1], nodes[4]] as NodeProcess[]
    for (const n of stopped) await stopNode(n)
    try {
      for (const name of ['empty', 'one', 'mibPlusOne', 'big']) await download(name, 'two-down')
    } finally {
      for (const n of stopped) await restartNode(n)
    }
  })

  test('a flipped byte in a stored piece is caught; the download is correct and names the bad piece', async () => {
    const big = files.get('mibPlusOne') as { capability: string }
    const audit = await runCli(['audit', big.capability, '--now', '--nodes', contacts(nodes), '--json'], { env })
    // Shards 0 and 1 are data shards. The first segment's download asks for k + 1 pieces at once
    // (no fetch time to hedge on yet) and decodes from the first k to arrive: with one flipped
    // data shard that could be the parity piece's race to win, with two of the five it cannot.
    const targets = audit.json.pieces.filter((p: { segment: number, shard: number }) => p.segment === 0 && p.shard <= 1) as Array<{ pieceId: string, node: string }>
    assert.equal(targets.length, 2, 'shards 0 and 1 have holders')
    for (const target of targets) {
      const victim = nodes.find(n => n.contact === target.node)
      assert.ok(victim !== undefined, 'a holder of the piece is running')
      await flipStoredByte(victim, target.pieceId)
    }
    const flipped = targets.map(t => t.pieceId).sort()

    const { json } = await download('mibPlusOne', 'flipped')
    const reported = (json.badPieces as Array<{ pieceId: string, code: string }>)
    assert.ok(reported.length > 0, 'a bad piece is reported')
    for (const b of reported) {
      assert.ok(flipped.includes(b.pieceId), `only a flipped piece is reported (${b.pieceId.slice(0, 12)})`)
      assert.equal(b.code, 'BATCHAIN_ERR_PIECE_HASH_MISMATCH')
    }
    // An audit challenging every leaf catches them too, and only them.
    const full = await runCli(['audit', big.capability, '--now', '--nodes', contacts(nodes), '--leaves', '64', '--json'], { env })
    assert.equal(full.code, 3)
    const failed = full.json.pieces.filter((p: { state: string }) => p.state === 'failed')
    assert.deepEqual(failed.map((p: { pieceId: string }) => p.pieceId).sort(), flipped)
    // Stored pieces elsewhere are untouched: the big file still comes back whole.
    await download('big', 'after-flip')
  })

  test('a restarted node (new port) still has its pieces and serves them', async () => {
    const node = nodes[0] as NodeProcess
    const before = (await readdir(join(node.dataDir, 'store', 'pieces'))).length
    const oldPort = node.port
    const oldId = node.nodeId
    assert.equal(await stopNode(node, 'SIGTERM'), 0, 'a node exits cleanly (0) on SIGTERM')
    await restartNode(node)
    assert.notEqual(node.port, oldPort)
    assert.equal(node.nodeId, oldId, 'identity survives the restart')
    const client = new PieceClient()
    try {
      const stats = await client.stat(parseContact(node.contact))
      assert.ok(stats.pieces > 0)
      assert.ok(stats.used > 0)
      assert.equal((await readdir(join(node.dataDir, 'store', 'pieces'))).length, before)
      // Without two other nodes, the download needs the restarted node's pieces.
      const big = files.get('big') as { capability: string }
      const manifest = parseCapability(big.capability).manifestId as PieceId
      assert.equal((await client.has(parseContact(node.contact), [manifest])).have.length, 1)
    } finally {
      client.close()
    }
    const down = [nodes[3], nodes[5]] as NodeProcess[]
    for (const n of down) await stopNode(n)
    try {
      await download('big', 'restarted')
    } finally {
      for (const n of down) await restartNode(n)
    }
  })
})

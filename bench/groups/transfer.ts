import { join } from 'node:path'
import { rm } from 'node:fs/promises'
import { GiB, MiB } from '../../src/core/constants.js'
import { parseSize } from '../../src/core/size.js'
import { runCli } from '../../test/helpers/cli.js'
import { writeRandomFile } from '../../test/helpers/files.js'
import { contacts, spawnNodes, stopNodes } from '../../test/helpers/nodes.js'
import { withBaseline, round, type BenchGroup } from '../harness.js'
import { rawDownloadBaseline, rawUploadBaseline } from './_raw-baseline.js'

/**
 * Upload and download of one file (1 GiB by default; BENCH_TRANSFER_SIZE to change)
 * through 6 local node processes with 4+2, in MB/s of file bytes, against a raw
 * baseline measured in the same run: the same bytes ×(k+m)/k pushed over loopback
 * TCP to 6 plain receiver processes that write them to disk (and, for download,
 * served back from disk and written to files by the puller, as the CLI writes its
 * output; the first definition, which discarded them, is reported beside it as
 * transfer.download.vs_discard). The CLI's peak RSS is reported from its own rusage.
 */
const transfer: BenchGroup = async (ctx) => {
  const size = parseSize(process.env.BENCH_TRANSFER_SIZE ?? '1GiB')
  const k = 4
  const m = 2
  const file = join(ctx.tmpDir, 'source.bin')
  await writeRandomFile(file, size)
  const nodes = await spawnNodes(6, join(ctx.tmpDir, 'nodes'), { capacity: `${Math.ceil((size * 2) / GiB) + 1}GiB` })
  const env = { BATCHAIN_HOME: join(ctx.tmpDir, 'home') }
  try {
    const up = await runCli(['upload', file, '--nodes', contacts(nodes), '--data-shards', String(k), '--parity-shards', String(m), '--json'], { env, timeoutMs: 30 * 60_000 })
    if (up.code !== 0) throw new Error(`upload failed: ${up.stderr}`)
    const out = join(ctx.tmpDir, 'out.bin')
    const down = await runCli(['download', up.json.capability, '-o', out, '--nodes', contacts(nodes), '--json'], { env, timeoutMs: 30 * 60_000 })
    if (down.code !== 0) throw new Error(`download failed: ${down.stderr}`)
    if (down.json.sha256 !== up.json.sha256) throw new Error('downloaded bytes differ')
    await rm(out, { force: true })
    await stopNodes(nodes)

    const wire = Math.round(size * (k + m) / k)
    const rawUp = await rawUploadBaseline({ totalBytes: wire, receivers: 6, dir: ctx.tmpDir, signal: ctx.signal })
    const rawDown = await rawDownloadBaseline({ totalBytes: wire, receivers: 6, dir: ctx.tmpDir, signal: ctx.signal, sink: 'file' })
    const rawDownDiscard = await rawDownloadBaseline({ totalBytes: wire, receivers: 6, dir: ctx.tmpDir, signal: ctx.signal, sink: 'discard' })
    const mbps = (seconds: number): number => size / 1e6 / seconds
    const extra = { fileBytes: size, dataShards: k, parityShards: m, nodes: 6 }
    ctx.emit(withBaseline('transfer.upload', mbps(up.json.seconds), 'MB/s', mbps(rawUp.seconds), { ...extra, target: 0.5 }))
    ctx.emit(withBaseline('transfer.download', mbps(down.json.seconds), 'MB/s', mbps(rawDown.seconds), { ...extra, target: 0.6, baselineSink: 'file' }))
    // The first definition of the download baseline (received bytes discarded), kept for comparison.
    ctx.emit(withBaseline('transfer.download.vs_discard', mbps(down.json.seconds), 'MB/s', mbps(rawDownDiscard.seconds), { ...extra, target: 0.6, baselineSink: '/dev/null' }))
    ctx.emit({ name: 'transfer.upload.peak_rss', value: round(up.json.peakRssBytes / MiB), unit: 'MiB', target: 300, ...extra })
    ctx.emit({ name: 'transfer.download.peak_rss', value: round(down.json.peakRssBytes / MiB), unit: 'MiB', target: 300, ...extra })
  } finally {
    await stopNodes(nodes)
  }
}

export default transfer

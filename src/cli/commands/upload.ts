import type { Command } from 'commander'
import { open, stat } from 'node:fs/promises'
import { basename, resolve } from 'node:path'
import { DEFAULT_DATA_SHARDS, DEFAULT_PARITY_SHARDS, DEFAULT_SEGMENT_SIZE } from '../../core/constants.js'
import { InvalidArgumentError } from '../../core/errors.js'
import { createLogger } from '../../core/logger.js'
import { formatSize } from '../../core/size.js'
import { loadOrCreateIdentity } from '../../crypto/keys.js'
import { batchainHome, recordUpload, upload } from '../../client/index.js'
import { PieceClient } from '../../transfer/index.js'
import { Durability } from '../../jobs/durability.js'
import { FileRegistry } from '../../jobs/file-registry.js'
import { excludedNodes } from '../../jobs/judge.js'
import { NodeRegistry } from '../../jobs/registry.js'
import { addRedisOption, connectRedis, redisUrlFor, type RedisCliOptions } from '../durability.js'
import { addNetworkOptions, openNetwork, type NetworkCliOptions } from '../network.js'
import { intOption, sizeOption } from '../options.js'
import { peakRss, type Output } from '../output.js'
import { createProgress } from '../progress.js'
import { interruptSignal } from '../signals.js'
import { join } from 'node:path'

interface UploadCliOptions extends NetworkCliOptions, RedisCliOptions { dataShards: number, parityShards: number, segmentSize: number, name?: string, label?: boolean }

export function registerUpload (program: Command, output: () => Output): void {
  const cmd = addNetworkOptions(program.command('upload')
    .description('encrypt, erasure-code and store a file; prints its read capability')
    .argument('<file>', 'file to upload'))
    .option('--data-shards <k>', 'data pieces per segment (k; k=1 stores copies)', intOption('--data-shards', 1, 24), DEFAULT_DATA_SHARDS)
    .option('--parity-shards <m>', 'parity pieces per segment (m; any k of k+m rebuild it)', intOption('--parity-shards', 1, 6), DEFAULT_PARITY_SHARDS)
    .option('--segment-size <size>', 'plaintext bytes per segment', sizeOption, DEFAULT_SEGMENT_SIZE)
    .option('--name <name>', 'name to record (default: the file name)')
    .option('--no-label', 'register the file for audits and repairs without its name (the dashboard then shows its manifest id)')
  addRedisOption(cmd, 'the file is registered for audits and repairs, and nodes lost or under the reputation threshold get no pieces')
    .action(async (file: string, opts: UploadCliOptions) => {
      const out = output()
      const path = resolve(file)
      const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
        throw new InvalidArgumentError(`Cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`)
      })
      if (!info.isFile()) throw new InvalidArgumentError(`${file} is not a regular file`)
      const home = batchainHome()
      const identity = await loadOrCreateIdentity(join(home, 'identity.pem'))
      const { signal, dispose } = interruptSignal()
      const client = new PieceClient({ identity })
      const { network, close } = await openNetwork(opts, client, { signal })
      const redisUrl = redisUrlFor(opts)
      const connection = redisUrl === undefined ? undefined : await connectRedis(redisUrl, 'batchain-upload')
      const progress = createProgress('upload', info.size, !out.json)
      const handle = await open(path, 'r')
      try {
        const registry = connection === undefined ? undefined : new NodeRegistry({ redis: connection.redis })
        const exclude = registry === undefined ? undefined : { nodeIds: excludedNodes(await registry.list({ signal }), registry.reputation) }
        // Read straight into the segment buffers (see ByteReader): no chunk allocated per read.
        const source = { readInto: async (target: Uint8Array) => (await handle.read(target, 0, target.length, null)).bytesRead }
        const result = await upload(source, {
          ...(exclude === undefined ? {} : { exclude }),
          network,
          client,
          identity,
          name: opts.name ?? basename(path),
          dataShards: opts.dataShards,
          parityShards: opts.parityShards,
          segmentSize: opts.segmentSize,
          signal,
          logger: createLogger('upload'),
          onProgress: done => { progress.update(done) }
        })
        progress.stop()
        await recordUpload(home, {
          capability: result.capability,
          manifestId: result.manifestId,
          name: result.name,
          size: result.size,
          sha256: result.sha256,
          dataShards: result.dataShards,
          parityShards: result.parityShards,
          uploadedAt: new Date().toISOString()
        })
        let registered: string | undefined
        if (connection !== undefined) {
          const durability = new Durability({ network, client, files: new FileRegistry({ redis: connection.redis }) })
          const name = opts.name ?? basename(path)
          const record = await durability.register(result.capability, opts.label === false ? { owner: 'cli' } : { label: name.slice(0, 256), owner: 'cli' }, { signal })
          registered = record.capability
        }
        out.result({
          ...result,
          ...(registered === undefined ? {} : { registered }),
          mbPerSecond: result.seconds > 0 ? result.size / 1e6 / result.seconds : 0,
          peakRssBytes: peakRss()
        }, (r: typeof result) => {
          out.info(`stored ${r.name} (${formatSize(r.size)}) as ${r.segments} segment(s) × ${r.dataShards}+${r.parityShards} pieces in ${r.seconds.toFixed(2)} s`)
          return r.capability
        })
      } finally {
        progress.stop()
        await handle.close()
        await connection?.close()
        await close()
        client.close()
        dispose()
      }
    })
}

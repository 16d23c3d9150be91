import type { Command } from 'commander'
import { rename, rm } from 'node:fs/promises'
import { finished } from 'node:stream/promises'
import { dirname, basename, join, resolve } from 'node:path'
import { MiB } from '../../core/constants.js'
import { createFileOutput } from '../../core/direct-io.js'
import { createLogger } from '../../core/logger.js'
import { formatSize } from '../../core/size.js'
import { parseCapability } from '../../crypto/capability.js'
import { download } from '../../client/index.js'
import { InvalidArgumentError } from '../../core/errors.js'
import { PieceClient } from '../../transfer/index.js'
import { addNetworkOptions, openNetwork, type NetworkCliOptions } from '../network.js'
import { peakRss, type Output } from '../output.js'
import { createProgress, type Progress } from '../progress.js'
import { interruptSignal } from '../signals.js'

interface DownloadCliOptions extends NetworkCliOptions { output: string, storedfile?: string, kubeconfig?: string }

export function registerDownload (program: Command, output: () => Output): void {
  addNetworkOptions(program.command('download')
    .description('fetch, verify and decrypt a file from its read capability')
    .argument('[capability]', 'read capability (batchain:r1:...); or --storedfile')
    .option('--storedfile <namespace/name>', 'download a StoredFile: its read capability is read from the Secret its status names, with your kubeconfig')
    .option('--kubeconfig <file>', 'kubeconfig for --storedfile (default $KUBECONFIG or ~/.kube/config)')
    .requiredOption('-o, --output <file>', 'where to write the file ("-" for stdout)'))
    .action(async (text: string | undefined, opts: DownloadCliOptions) => {
      const out = output()
      if ((text === undefined) === (opts.storedfile === undefined)) throw new InvalidArgumentError('Give either a capability or --storedfile NAMESPACE/NAME')
      const capability = parseCapability(text ?? await storedFileCapability(opts.storedfile!, opts.kubeconfig))
      const toStdout = opts.output === '-'
      const target = toStdout ? '' : resolve(opts.output)
      // Write beside the target and rename only after the whole-file hash checked out:
      // a failed or tampered download never leaves a plausible-looking file behind.
      const partial = toStdout ? '' : join(dirname(target), `.${basename(target)}.partial-${process.pid}`)
      // A file is written with O_DIRECT where the file system takes it: the download is not
      // copied through the page cache, and does not push the user's working set out of it.
      const sink = toStdout ? process.stdout : (await createFileOutput(partial, { mode: 0o600, batchSize: 4 * MiB })).stream
      const client = new PieceClient()
      let progress: Progress | undefined
      const { signal, dispose } = interruptSignal()
      let network: Awaited<ReturnType<typeof openNetwork>> | undefined
      try {
        network = await openNetwork(opts, client, { signal })
        const result = await download(capability, sink, {
          locator: network.network.locator,
          client,
          signal,
          logger: createLogger('download'),
          onManifest: ({ size }) => { progress = createProgress('download', size, !out.json && !toStdout) },
          onProgress: done => { progress?.update(done) }
        })
        progress?.stop()
        if (!toStdout) {
          sink.end()
          await finished(sink)
          await rename(partial, target)
        }
        const report = { ...result, output: toStdout ? '-' : target, mbPerSecond: result.seconds > 0 ? result.size / 1e6 / result.seconds : 0, peakRssBytes: peakRss() }
        if (toStdout && out.json) process.stderr.write(JSON.stringify(report) + '\n')
        else if (!toStdout || out.json) {
          out.result(report, (r: typeof report) => {
            const bad = r.badPieces.length > 0 ? `; went around ${r.badPieces.length} bad or missing piece(s)` : ''
            return `downloaded ${r.name} (${formatSize(r.size)}) to ${r.output} in ${r.seconds.toFixed(2)} s${bad}`
          })
        }
        for (const bad of result.badPieces) out.info(`bad piece: segment ${bad.segment} shard ${bad.shard} on ${bad.node}: ${bad.reason}`)
      } catch (err) {
        if (!toStdout) {
          sink.destroy()
          await rm(partial, { force: true })
        }
        throw err
      } finally {
        progress?.stop()
        await network?.close()
        client.close()
        dispose()
      }
    })
}

/** The read capability of a StoredFile, from the Secret its status names. */
async function storedFileCapability (storedfile: string, kubeconfig: string | undefined): Promise<string> {
  // Loaded on demand: the operator brings the Kubernetes client, which only --storedfile needs.
  const { readStoredFileCapability } = await import('../../operator/index.js')
  return await readStoredFileCapability(storedfile, kubeconfig)
}

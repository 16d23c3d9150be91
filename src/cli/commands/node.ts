import type { Command } from 'commander'
import { resolve } from 'node:path'
import { createLogger } from '../../core/logger.js'
import { startStorageNode } from '../../node/index.js'
import { intOption, sizeOption } from '../options.js'
import type { Output } from '../output.js'

interface NodeStartOptions { dataDir: string, port: number, host: string, capacity: number }

export function registerNode (program: Command, output: () => Output): void {
  const node = program.command('node').description('run a storage node (BatNode)')
  node.command('start')
    .description('run a BatNode in the foreground until SIGTERM/SIGINT; structured logs on stderr')
    .requiredOption('--data-dir <dir>', 'directory for pieces and the node key')
    .option('--port <port>', 'TCP port of the piece server (0 picks a free one)', intOption('--port', 0, 65535), 0)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--capacity <size>', 'bytes of pieces to accept, e.g. 500MiB or 10GiB', sizeOption, sizeOption('10GiB'))
    .action(async (opts: NodeStartOptions) => {
      const out = output()
      const logger = createLogger('node')
      const node = await startStorageNode({ dataDir: resolve(opts.dataDir), host: opts.host, port: opts.port, capacity: opts.capacity, logger })
      const { host, port } = node.address()
      const stats = node.store.stats()
      logger.info({ nodeId: node.identity.id, host, port, ...stats }, 'BatNode listening')
      out.result({ event: 'ready', nodeId: node.identity.id, host, port, dataDir: resolve(opts.dataDir), capacity: stats.capacity, used: stats.used, pieces: stats.pieces },
        (r: { nodeId: string }) => `BatNode ${r.nodeId} listening on ${host}:${port}`)
      await new Promise<void>(resolvePromise => {
        const stop = (sig: string): void => {
          logger.info({ signal: sig }, 'stopping')
          node.stop().then(() => {
            logger.info('stopped')
            resolvePromise()
          }, err => {
            logger.error({ err }, 'stop failed')
            process.exitCode = 1
            resolvePromise()
          })
        }
        process.once('SIGTERM', () => { stop('SIGTERM') })
        process.once('SIGINT', () => { stop('SIGINT') })
      })
    })
}

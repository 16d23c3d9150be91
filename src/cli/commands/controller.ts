import type { Command } from 'commander'
import { join } from 'node:path'
import { batchainHome } from '../../client/index.js'
import { createLogger } from '../../core/logger.js'
import { loadOrCreateSealKeys } from '../../crypto/sealed-box.js'
import { DEFAULT_AUDIT_EVERY_MS, DEFAULT_CHECK_EVERY_MS, DEFAULT_KEEPALIVE_EVERY_MS, DEFAULT_KEEPALIVE_POLICY } from '../../jobs/defaults.js'
import { describeRedisUrl } from '../../jobs/redis-url.js'
import { intOption } from '../options.js'
import type { Output } from '../output.js'
import { redisUrlOf } from './worker.js'

interface ControllerCliOptions {
  redis?: string
  kubeconfig?: string
  namespace?: string
  sealKey?: string
  leaseNamespace: string
  leaseName: string
  leaseDuration: number
  identity?: string
  concurrency: number
  maxBackoff: number
  poll: number
  refresh: number
  fastRefresh: number
  checkEvery: number
  retryFailedAfter: number
  relist: number
  scheduler: boolean
  keepaliveEvery: number
  grace: number
  auditEvery: number
  schedulerCheckEvery: number
  prefix?: string
}

export function registerController (program: Command, output: () => Output): void {
  program.command('controller')
    .description('the StoredFile operator: reconciles StoredFiles into stored, audited and repaired files while it holds the Lease (until SIGTERM/SIGINT)')
    .option('--redis <url>', 'Redis holding the queues, redis://HOST:PORT[/DB] (also BATCHAIN_REDIS)')
    .option('--kubeconfig <file>', 'kubeconfig (default $KUBECONFIG, ~/.kube/config, or the in-cluster service account)')
    .option('--namespace <ns>', 'watch StoredFiles of one namespace (default all)')
    .option('--seal-key <file>', 'X25519 key the workers seal read capabilities to (created if absent; every controller replica needs the same one; default BATCHAIN_HOME/controller-seal.pem)')
    .option('--lease-namespace <ns>', 'namespace of the leader-election Lease', 'batchain-system')
    .option('--lease-name <name>', 'name of the leader-election Lease', 'batchain-controller')
    .option('--lease-duration <seconds>', 'a standby takes over this long after the leader stopped renewing', intOption('--lease-duration', 1, 3600), 15)
    .option('--identity <id>', 'Lease holder identity (default HOST-PID-random)')
    .option('--concurrency <n>', 'StoredFiles reconciled at once', intOption('--concurrency', 1, 256), 8)
    .option('--max-backoff <seconds>', 'longest retry delay of a failing StoredFile (missing ConfigMap, API errors)', intOption('--max-backoff', 1, 3600), 60)
    .option('--poll <ms>', 'fallback poll of a running upload or delete job (its completion event wakes the controller at once)', intOption('--poll', 100, 600_000), 10_000)
    .option('--refresh <seconds>', 'status refresh of a healthy StoredFile', intOption('--refresh', 1, 86_400), 60)
    .option('--fast-refresh <ms>', 'status refresh of a StoredFile that is not healthy', intOption('--fast-refresh', 100, 600_000), 3000)
    .option('--check-every <seconds>', 'queue a health check of a StoredFile when its last one is older than this', intOption('--check-every', 1, 86_400), 60)
    .option('--retry-failed-after <seconds>', 'a failed upload is tried again after this', intOption('--retry-failed-after', 1, 86_400), 60)
    .option('--relist <seconds>', 'full list of StoredFiles this often, besides the watch', intOption('--relist', 1, 86_400), 300)
    .option('--no-scheduler', 'do not run the durability scheduler (keepalive, audit and check ticks) while leading')
    .option('--keepalive-every <seconds>', 'scheduler: ping every registered node this often', intOption('--keepalive-every', 1, 86_400), DEFAULT_KEEPALIVE_EVERY_MS / 1000)
    .option('--grace <seconds>', 'scheduler: how long a node may be offline before its pieces count as lost', intOption('--grace', 0, 365 * 86_400), DEFAULT_KEEPALIVE_POLICY.graceMs / 1000)
    .option('--audit-every <seconds>', 'scheduler: audit every registered file this often (StoredFiles also get their own auditInterval schedule)', intOption('--audit-every', 1, 30 * 86_400), DEFAULT_AUDIT_EVERY_MS / 1000)
    .option('--scheduler-check-every <seconds>', 'scheduler: health check of every registered file this often', intOption('--scheduler-check-every', 1, 30 * 86_400), DEFAULT_CHECK_EVERY_MS / 1000)
    .option('--prefix <prefix>', 'Redis key prefix (default batchain)')
    .action(async (opts: ControllerCliOptions) => {
      const out = output()
      const redis = redisUrlOf(opts.redis)
      const logger = createLogger('controller')
      const stop = new Promise<string>(resolve => {
        process.once('SIGTERM', () => { resolve('SIGTERM') })
        process.once('SIGINT', () => { resolve('SIGINT') })
      })
      const line = (value: unknown): void => { if (out.json) process.stdout.write(JSON.stringify(value) + '\n') }
      // Loaded on demand: the Kubernetes client, BullMQ and ioredis, which only this command's action needs.
      const { KubeClient, loadKubeConfig, startController } = await import('../../operator/index.js')
      const kube = new KubeClient(loadKubeConfig(opts.kubeconfig))
      const sealKeys = await loadOrCreateSealKeys(opts.sealKey ?? join(batchainHome(), 'controller-seal.pem'))
      const controller = await startController({
        kube,
        redis,
        ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }),
        ...(opts.namespace === undefined ? {} : { namespace: opts.namespace }),
        ...(opts.identity === undefined ? {} : { identity: opts.identity }),
        sealKeys,
        lease: { namespace: opts.leaseNamespace, name: opts.leaseName, durationMs: opts.leaseDuration * 1000 },
        concurrency: opts.concurrency,
        maxDelayMs: opts.maxBackoff * 1000,
        pollMs: opts.poll,
        refreshMs: opts.refresh * 1000,
        fastRefreshMs: opts.fastRefresh,
        checkEveryMs: opts.checkEvery * 1000,
        retryFailedAfterMs: opts.retryFailedAfter * 1000,
        relistMs: opts.relist * 1000,
        scheduler: opts.scheduler
          ? { keepalive: { everyMs: opts.keepaliveEvery * 1000, policy: { graceMs: opts.grace * 1000 } }, auditEveryMs: opts.auditEvery * 1000, checkEveryMs: opts.schedulerCheckEvery * 1000 }
          : false,
        logger,
        onEvent: event => {
          line(event)
          if (event.event === 'leader') out.info('leading: this controller reconciles StoredFiles')
          if (event.event === 'standby') out.info(`standby: ${String(event.holder)} holds the Lease`)
        }
      })
      line({ event: 'ready', identity: controller.identity, redis: describeRedisUrl(redis), namespace: opts.namespace ?? null, pid: process.pid })
      const signal = await stop
      logger.info({ signal }, 'stopping: releasing the Lease')
      await controller.stop()
      line({ event: 'stopped', reconciles: controller.reconciles() })
    })
}

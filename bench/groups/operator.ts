import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Job, QueueEvents } from 'bullmq'
import { generateSealKeys } from '../../src/crypto/sealed-box.js'
import { FileRegistry, JobProducer, bullConnection, closeRedis, createRedis } from '../../src/jobs/index.js'
import { isProcessAlive, loadTestnet, type TestnetProcess } from '../../src/testnet/index.js'
import { signalProcess, waitForExit } from '../../src/testnet/liveness.js'
import { runCli } from '../../test/helpers/cli.js'
import { spawnJsonCli, type JsonProcess } from '../../test/helpers/jobs.js'
import { startKube } from '../../test/helpers/kube.js'
import { round, withBaseline, type BenchGroup } from '../harness.js'

/**
 * The StoredFile operator (issue 5): BENCH_OPERATOR_FILES (200) StoredFiles of 64 KiB inline text
 * created at once (`kubectl create -f` of one List) on a real kube-apiserver + etcd, a testnet of
 * 8 storage nodes with Redis and one worker (concurrency 4), and `batchain controller`.
 *
 * Figures:
 * - operator.all_ready: seconds from the create to every StoredFile Ready (status read through the
 *   API), against the baseline of the same number of 64 KiB files stored by enqueuing upload-file
 *   jobs directly on the same worker and waiting for all of them (no Kubernetes at all) in the same
 *   run. The ratio is the operator's overhead: watch, reconcile, Secret and status writes.
 * - operator.files_per_second: the same as a rate (baseline: direct jobs).
 * - operator.reconciles_per_second: reconcile runs (the controller's own count of `reconciled`
 *   events) over the time to all Ready; every file takes several (finalizer, enqueue, poll, adopt).
 */
const operator: BenchGroup = async (ctx) => {
  const count = Number(process.env.BENCH_OPERATOR_FILES ?? '200')
  const size = 64 * 1024
  const kube = await startKube({ readyTimeoutMs: 180_000 })
  if (kube === undefined) throw new Error('kube-apiserver/etcd/kubectl are needed: bash scripts/kube-tools.sh builds them')
  const dir = join(ctx.tmpDir, 'net')
  const home = join(ctx.tmpDir, 'home')
  let started: TestnetProcess[] = []
  let controller: JsonProcess | undefined
  let producer: JobProducer | undefined
  try {
    await kube.kubectlOk(['apply', '-f', 'manifests/crds/'])
    await kube.kubectlOk(['wait', '--for=condition=Established', 'crd/storedfiles.batchain.io', '--timeout=60s'])
    await kube.kubectlOk(['apply', '-f', 'manifests/rbac/'])
    const up = await runCli(['testnet', 'up', '--nodes', '8', '--dir', dir, '--no-dashboard', '--json'], { timeoutMs: 300_000, env: { BATCHAIN_HOME: home } })
    if (up.code !== 0) throw new Error(`testnet up failed: ${up.stderr}`)
    started = up.json.processes
    const redisUrl = (await readFile(join(dir, 'redis.url'), 'utf8')).trim()
    const text = (): string => randomBytes(size).toString('base64').slice(0, size)

    // Baseline: the same uploads as jobs, straight to the worker.
    producer = new JobProducer({ redis: redisUrl })
    const seal = generateSealKeys()
    const events = new QueueEvents('upload', { connection: bullConnection({ url: redisUrl, role: 'worker' }), prefix: 'batchain' })
    await events.waitUntilReady()
    const ids = Array.from({ length: count }, (_, i) => `bench.baseline.${i}`)
    const baseStart = performance.now()
    await Promise.all(ids.map(async id => await producer!.add('upload', 'upload-file', { source: { kind: 'inline', base64: Buffer.from(text()).toString('base64') }, recipient: seal.publicKey.toString('base64url'), owner: `bench/${id}` }, { jobId: id })))
    const queue = producer.queue('upload')
    for (const id of ids) {
      const job = await Job.fromId(queue, id)
      if (job === undefined) throw new Error(`job ${id} vanished`)
      await job.waitUntilFinished(events, 600_000)
    }
    const baselineSeconds = (performance.now() - baseStart) / 1000
    await events.close()
    ctx.signal.throwIfAborted()

    // The operator.
    controller = await spawnJsonCli('controller', ['controller', '--redis', redisUrl, '--kubeconfig', kube.kubeconfig, '--seal-key', join(home, 'seal.pem'),
      '--lease-namespace', 'batchain-system', '--concurrency', '16', '--no-scheduler'], { BATCHAIN_HOME: home, BATCHAIN_LOG_LEVEL: 'error' })
    await controller.waitFor(e => e.event === 'leader', 'leadership', 60_000)
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: Array.from({ length: count }, (_, i) => ({ apiVersion: 'batchain.io/v1alpha1', kind: 'StoredFile', metadata: { name: `bench-${i}`, namespace: 'default' }, spec: { source: { inline: text() } } }))
    }
    const before = controller.events.filter(e => e.event === 'reconciled').length
    const start = performance.now()
    await kube.kubectlOk(['create', '-f', '-'], { input: JSON.stringify(list), timeoutMs: 300_000 })
    let ready = 0
    for (;;) {
      ctx.signal.throwIfAborted()
      const res = await kube.request('GET', '/apis/batchain.io/v1alpha1/namespaces/default/storedfiles', { timeoutMs: 60_000 })
      const items = (res.json as { items: Array<{ status?: { phase?: string } }> }).items
      ready = items.filter(o => o.status?.phase === 'Ready').length
      if (ready === count) break
      if (performance.now() - start > 1_800_000) throw new Error(`only ${ready}/${count} Ready after 30 min`)
      await new Promise(resolve => setTimeout(resolve, 250))
    }
    const seconds = (performance.now() - start) / 1000
    const reconciles = controller.events.filter(e => e.event === 'reconciled').length - before
    const byEvent: Record<string, number> = {}
    for (const e of controller.events) byEvent[String(e.event)] = (byEvent[String(e.event)] ?? 0) + 1
    const errors = controller.events.filter(e => e.event === 'reconcile-error').map(e => String(e.error).slice(0, 80))
    process.stderr.write(`[bench] operator: controller events ${JSON.stringify(byEvent)}; first errors ${JSON.stringify([...new Set(errors)].slice(0, 5))}\n`)
    const extra = { files: count, fileBytes: size, nodes: 8, workerConcurrency: 4, controllerConcurrency: 16, baselineWhat: 'upload-file jobs enqueued directly on the same worker' }
    ctx.emit(withBaseline('operator.all_ready', seconds, 's', baselineSeconds, extra))
    ctx.emit(withBaseline('operator.files_per_second', count / seconds, 'files/s', count / baselineSeconds, extra))
    // Exactly one stored copy per StoredFile: registered files owned by the bench's objects.
    const registryRedis = createRedis({ url: redisUrl, role: 'client' })
    registryRedis.on('error', () => {})
    const owned = (await new FileRegistry({ redis: registryRedis }).list()).filter(f => f.owner?.startsWith('default/bench-') === true)
    await closeRedis(registryRedis)
    const perObject = new Map<string, number>()
    for (const f of owned) perObject.set(f.owner as string, (perObject.get(f.owner as string) ?? 0) + 1)
    ctx.emit({ name: 'operator.stored_copies_per_file', value: round(owned.length / count, 3), unit: 'copies', registered: owned.length, objectsWithMoreThanOne: [...perObject.values()].filter(n => n > 1).length, ...extra })
    ctx.emit({ name: 'operator.reconciles_per_second', value: round(reconciles / seconds), unit: 'reconciles/s', reconciles, perFile: round(reconciles / count, 2), reconcileErrors: byEvent['reconcile-error'] ?? 0, ...extra })
  } finally {
    await controller?.stop().catch(() => {})
    await producer?.close()
    try { started = [...started, ...(await loadTestnet(dir)).processes] } catch { /* never started */ }
    for (const p of started) if (isProcessAlive(p.pid, p.procStart)) signalProcess(p.pid, 'SIGKILL', { group: true })
    await Promise.all(started.map(async p => await waitForExit(p.pid, p.procStart, 10_000)))
    await kube.stop()
  }
}

export default operator

import { after, before, describe, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Queue } from 'bullmq'
import { closeRedis, createRedis, bullConnection } from '../../src/jobs/connection.js'
import { FileRegistry } from '../../src/jobs/file-registry.js'
import { isProcessAlive, loadTestnet, type TestnetProcess } from '../../src/testnet/index.js'
import { signalProcess, waitForExit } from '../../src/testnet/liveness.js'
import { hasCommand, isCI } from '../helpers/ci.js'
import { runCli } from '../helpers/cli.js'
import { eventually } from '../helpers/eventually.js'
import { spawnJsonCli, type JsonProcess } from '../helpers/jobs.js'
import { requireKube, startKube, type KubeCluster } from '../helpers/kube.js'
import { tempDir, type TempDir } from '../helpers/tmp.js'

/**
 * The StoredFile operator end to end: a real kube-apiserver + etcd (test/helpers/kube.ts), a real
 * local network (`batchain testnet up`: bootstraps, 8 storage nodes, Redis, a worker, the
 * scheduler), and `batchain controller --json` as a process, running as the ServiceAccount of
 * manifests/rbac/ (a static token whose username is the ServiceAccount's, so the manifests' own
 * bindings are what authorises it). Users act with kubectl.
 */
const SA = 'system:serviceaccount:batchain-system:batchain-controller'
const SA_GROUPS = ['system:serviceaccounts', 'system:serviceaccounts:batchain-system']

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

describe('StoredFile operator (real apiserver, real network, controller process)', () => {
  let kube: KubeCluster | undefined
  let tmp: TempDir
  let dir: string
  let home: string
  let redisUrl: string
  let started: TestnetProcess[] = []
  let controller: JsonProcess | undefined
  const extraControllers: JsonProcess[] = []
  let files: FileRegistry | undefined
  let redis: ReturnType<typeof createRedis> | undefined
  let http: Server | undefined
  let httpBase = ''
  let skipReason: string | undefined

  const controllerArgs = (identity: string): string[] => [
    'controller', '--redis', redisUrl, '--kubeconfig', kube!.identities[SA]!.kubeconfig,
    '--seal-key', join(home, 'seal.pem'), '--identity', identity,
    '--lease-namespace', 'batchain-system', '--lease-name', 'batchain-controller', '--lease-duration', '3',
    '--poll', '300', '--fast-refresh', '500', '--refresh', '1', '--check-every', '2', '--max-backoff', '2',
    '--retry-failed-after', '3', '--relist', '30', '--keepalive-every', '1', '--grace', '0'
  ]
  const startController = async (identity: string, env: NodeJS.ProcessEnv = {}): Promise<JsonProcess> =>
    await spawnJsonCli(identity, controllerArgs(identity), { BATCHAIN_HOME: home, ...env })

  before(async () => {
    tmp = await tempDir('operator')
    dir = join(tmp.dir, 'net')
    home = join(tmp.dir, 'home')
    if (!hasCommand('redis-server')) {
      if (isCI()) throw new Error('prerequisite missing: redis-server; CI=true requires every prerequisite')
      skipReason = 'redis-server is not installed'
      return
    }
    kube = await startKube({ users: { [SA]: SA_GROUPS } })
    if (kube === undefined) return
    await kube.kubectlOk(['apply', '-f', 'manifests/crds/'])
    await kube.kubectlOk(['wait', '--for=condition=Established', 'crd/storedfiles.batchain.io', '--timeout=60s'])
    await kube.kubectlOk(['apply', '-f', 'manifests/rbac/'])
    const up = await runCli(['testnet', 'up', '--nodes', '8', '--dir', dir, '--grace', '0', '--keepalive-every', '1', '--no-dashboard', '--json'], {
      timeoutMs: 240_000,
      // Each rebuilt piece's placement is held 3 s in the worker, so a repair spans several status
      // refreshes and the Degraded state is observable before it heals (it is otherwise sub-second).
      env: { BATCHAIN_HOME: home, BATCHAIN_FAILPOINTS: 'repair.after-place=sleep(3000)' }
    })
    if (up.code === 0) started = up.json.processes
    assert.equal(up.code, 0, `testnet up failed: ${up.stderr}`)
    redisUrl = (await readFile(join(dir, 'redis.url'), 'utf8')).trim()
    redis = createRedis({ url: redisUrl, role: 'client' })
    files = new FileRegistry({ redis })
    controller = await startController('controller-a')
    await controller.waitFor(e => e.event === 'leader', 'leadership', 30_000)
    http = createServer((req, res) => {
      if (req.url === '/file.bin') { res.writeHead(200, { 'content-type': 'application/octet-stream' }); res.end(Buffer.alloc(300_000, 7)); return }
      res.writeHead(404); res.end('not here')
    })
    await new Promise<void>(resolve => http!.listen(0, '127.0.0.1', resolve))
    const addr = http.address() as { port: number }
    httpBase = `http://127.0.0.1:${addr.port}`
  })

  after(async () => {
    for (const c of [controller, ...extraControllers]) await c?.stop().catch(() => {})
    if (redis !== undefined) await closeRedis(redis)
    http?.close()
    try { started = [...started, ...(await loadTestnet(dir)).processes] } catch { /* never started */ }
    for (const p of started) if (isProcessAlive(p.pid, p.procStart)) signalProcess(p.pid, 'SIGKILL', { group: true })
    await Promise.all(started.map(async p => await waitForExit(p.pid, p.procStart, 10_000)))
    await kube?.stop()
    await tmp?.[Symbol.asyncDispose]()
  })

  const ready = (t: TestContext): boolean => {
    if (skipReason !== undefined) { t.skip(skipReason); return false }
    return requireKube(kube, t)
  }
  const get = async (name: string, ns = 'default'): Promise<Json> => JSON.parse(await kube!.kubectlOk(['get', 'storedfile', name, '-n', ns, '-o', 'json']))
  const condition = (obj: Json, type: string): Json => (obj.status?.conditions ?? []).find((c: Json) => c.type === type)
  const waitPhase = async (name: string, pred: (o: Json) => boolean, what: string, attempts = 400): Promise<Json> =>
    await eventually(`${name}: ${what}`, async () => { const o = await get(name); return pred(o) ? o : undefined }, { attempts, everyMs: 250 })
  const apply = async (obj: Json): Promise<void> => { await kube!.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(obj) }) }
  const events = async (name: string): Promise<Json[]> => JSON.parse(await kube!.kubectlOk(['get', 'events', '-n', 'default', '--field-selector', `involvedObject.name=${name}`, '-o', 'json'])).items
  const storageNodes = async (): Promise<Array<Extract<TestnetProcess, { role: 'storage' }>>> =>
    (await loadTestnet(dir)).processes.filter((p): p is Extract<TestnetProcess, { role: 'storage' }> => p.role === 'storage')
  const status = async (verify: string): Promise<Json> => {
    const r = await runCli(['status', verify, '--testnet', dir, '--json'], { env: { BATCHAIN_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    return r.json
  }
  async function findFile (root: string, name: string): Promise<boolean> {
    let entries
    try { entries = await readdir(root, { withFileTypes: true, recursive: true }) } catch { return false }
    return entries.some(e => e.isFile() && e.name === name)
  }
  const piecesOnDisk = async (ids: string[]): Promise<number> => {
    let n = 0
    for (const node of await storageNodes()) for (const id of ids) if (await findFile(node.dataDir, id)) n++
    return n
  }
  const sample = async (): Promise<Json> => {
    const text = await readFile('manifests/samples/storedfile.yaml', 'utf8')
    const inline = /inline: \|\n((?: {6}.*\n)+)/.exec(text)![1]!.replace(/^ {6}/gm, '')
    return { text, inline }
  }

  test('kubectl apply of the sample → Ready with pieces on the network; download --storedfile gives identical bytes; kubectl get shows the columns', async t => {
    if (!ready(t)) return
    const { inline } = await sample()
    await kube!.kubectlOk(['apply', '-f', 'manifests/samples/storedfile.yaml'])
    const obj = await waitPhase('hello', o => o.status?.phase === 'Ready', 'Ready')
    assert.deepEqual(obj.metadata.finalizers, ['batchain.io/finalizer'])
    assert.equal(obj.status.observedGeneration, obj.metadata.generation)
    assert.equal(obj.status.size, Buffer.byteLength(inline))
    assert.equal(obj.status.pieces.total, 6)
    assert.equal(obj.status.capabilitySecretRef.name, 'hello-capability')
    assert.match(obj.status.verifyCapability, /^batchain:v1:[0-9a-f]{64}$/)
    for (const type of ['Ready', 'Stored']) assert.equal(condition(obj, type)?.status, 'True', `${type}: ${JSON.stringify(obj.status.conditions)}`)
    assert.ok(!JSON.stringify(obj).includes('batchain:r1:'), 'no read capability in the object')
    // the Secret: owned by the StoredFile, holds the read capability
    const secret = JSON.parse(await kube!.kubectlOk(['get', 'secret', 'hello-capability', '-o', 'json']))
    assert.equal(secret.metadata.ownerReferences[0].uid, obj.metadata.uid)
    assert.match(Buffer.from(secret.data.capability, 'base64').toString(), /^batchain:r1:/)
    // pieces on the network
    const st = await status(obj.status.verifyCapability)
    assert.equal(st.segments[0].good, 6, JSON.stringify(st.segments[0]))
    // download as a user: the admin kubeconfig through KUBECONFIG
    const out = join(tmp.dir, 'hello.txt')
    const dl = await runCli(['download', '--storedfile', 'default/hello', '-o', out, '--testnet', dir, '--json'], { env: { KUBECONFIG: kube!.kubeconfig, BATCHAIN_HOME: home } })
    assert.equal(dl.code, 0, dl.stderr)
    assert.equal(await readFile(out, 'utf8'), inline)
    // columns
    const table = await kube!.kubectlOk(['get', 'storedfiles'])
    const [header, row] = table.trim().split('\n')
    assert.deepEqual(header!.trim().split(/\s{2,}/), ['NAME', 'PHASE', 'HEALTH', 'SIZE', 'PIECES', 'LAST AUDIT', 'AGE'])
    assert.match(row!, /^hello\s+Ready\s+Healthy\s+\d+\s+6\/6\s/)
    const ev = await events('hello')
    assert.ok(ev.some(e => e.reason === 'Stored'), `Stored event: ${JSON.stringify(ev.map(e => e.reason))}`)
    assert.ok(!JSON.stringify(ev).includes('batchain:r1:'))
    // audit schedule for this StoredFile
    const audit = new Queue('audit', { connection: bullConnection({ url: redisUrl, role: 'client' }), prefix: 'batchain' })
    try {
      const schedulers = await audit.getJobSchedulers()
      assert.ok(schedulers.some(s => s.key === `audit.${obj.metadata.uid}`), JSON.stringify(schedulers.map(s => s.key)))
    } finally { await audit.close() }
  })

  test('stop 2 storage nodes holding pieces → Degraded, then Healthy after repair', async t => {
    if (!ready(t)) return
    const obj = await get('hello')
    const st = await status(obj.status.verifyCapability)
    const holders = new Set<string>(st.segments[0].pieces.map((p: Json) => p.nodeId))
    const victims = (await storageNodes()).filter(n => holders.has(n.nodeId)).slice(0, 2)
    assert.equal(victims.length, 2)
    for (const v of victims) signalProcess(v.pid, 'SIGSTOP', { group: true })
    try {
      const degraded = await waitPhase('hello', o => o.status?.health === 'Degraded', 'Degraded', 400)
      assert.equal(degraded.status.phase, 'Degraded')
      assert.equal(condition(degraded, 'Degraded')?.status, 'True')
      assert.ok(degraded.status.pieces.good < 6)
      const healed = await waitPhase('hello', o => o.status?.health === 'Healthy' && o.status?.pieces?.good === 6, 'Healthy again', 600)
      assert.equal(healed.status.phase, 'Ready')
      assert.ok(healed.status.lastRepair !== undefined, JSON.stringify(healed.status))
      const ev = (await events('hello')).map(e => e.reason)
      assert.ok(ev.includes('Degraded') && ev.includes('Repaired'), JSON.stringify(ev))
    } finally {
      for (const v of victims) { signalProcess(v.pid, 'SIGCONT', { group: true }) }
    }
  })

  test('ConfigMap missing → a clear condition; it recovers when the ConfigMap appears', async t => {
    if (!ready(t)) return
    await apply({ apiVersion: 'batchain.io/v1alpha1', kind: 'StoredFile', metadata: { name: 'from-cm', namespace: 'default' }, spec: { source: { configMapKeyRef: { name: 'notes', key: 'notes.txt' } } } })
    const pending = await waitPhase('from-cm', o => condition(o, 'SourceReady')?.reason === 'ConfigMapNotFound', 'ConfigMapNotFound')
    assert.equal(pending.status.phase, 'Pending')
    assert.match(condition(pending, 'Ready').message, /ConfigMap default\/notes not found/)
    await kube!.kubectlOk(['create', 'configmap', 'notes', '--from-literal=notes.txt=remember the milk'])
    const obj = await waitPhase('from-cm', o => o.status?.phase === 'Ready', 'Ready after the ConfigMap appeared')
    assert.equal(obj.status.size, 'remember the milk'.length)
    assert.equal(condition(obj, 'SourceReady').status, 'True')
  })

  test('URL 404 → UploadFailed event and condition', async t => {
    if (!ready(t)) return
    await apply({ apiVersion: 'batchain.io/v1alpha1', kind: 'StoredFile', metadata: { name: 'gone-url', namespace: 'default' }, spec: { source: { url: `${httpBase}/missing` } } })
    const failed = await waitPhase('gone-url', o => o.status?.phase === 'Failed', 'Failed')
    assert.equal(condition(failed, 'Stored').reason, 'UploadFailed')
    assert.match(condition(failed, 'Stored').message, /404/)
    const ev = await events('gone-url')
    assert.ok(ev.some(e => e.reason === 'UploadFailed' && e.type === 'Warning'), JSON.stringify(ev.map(e => [e.type, e.reason])))
  })

  test('a spec change that affects the data stores it again and releases the old copy', async t => {
    if (!ready(t)) return
    await apply({ apiVersion: 'batchain.io/v1alpha1', kind: 'StoredFile', metadata: { name: 'changing', namespace: 'default' }, spec: { source: { inline: 'version one' } } })
    const v1 = await waitPhase('changing', o => o.status?.phase === 'Ready', 'Ready v1')
    const oldIds = (await status(v1.status.verifyCapability)).segments[0].pieces.map((p: Json) => p.id)
    await apply({ apiVersion: 'batchain.io/v1alpha1', kind: 'StoredFile', metadata: { name: 'changing', namespace: 'default' }, spec: { source: { inline: 'version two, longer' } } })
    const v2 = await waitPhase('changing', o => o.status?.phase === 'Ready' && o.status.manifestId !== v1.status.manifestId, 'Ready v2')
    assert.equal(v2.status.size, 'version two, longer'.length)
    assert.equal(v2.status.observedGeneration, 2)
    await eventually('old pieces released', async () => (await piecesOnDisk(oldIds)) === 0 ? true : undefined, { attempts: 200, everyMs: 250 })
    assert.equal(await files!.get(v1.status.manifestId), undefined, 'old manifest left the registry')
  })

  test('delete with Delete removes the pieces; with Retain keeps them and the Secret; then the object is gone', async t => {
    if (!ready(t)) return
    const obj = await get('hello')
    const ids: string[] = (await status(obj.status.verifyCapability)).segments[0].pieces.map((p: Json) => p.id)
    assert.ok(await piecesOnDisk(ids) >= 6)
    await kube!.kubectlOk(['delete', 'storedfile', 'hello', '--wait=true', '--timeout=60s'])
    assert.equal((await kube!.kubectl(['get', 'storedfile', 'hello'])).code, 1)
    assert.equal(await piecesOnDisk(ids), 0, 'every piece left the nodes')
    assert.equal((await kube!.kubectl(['get', 'secret', 'hello-capability'])).code, 1, 'the Secret is gone')
    assert.equal(await files!.get(obj.status.manifestId), undefined)

    await apply({ apiVersion: 'batchain.io/v1alpha1', kind: 'StoredFile', metadata: { name: 'keep', namespace: 'default' }, spec: { source: { inline: 'keep me' }, deletionPolicy: 'Retain' } })
    const keep = await waitPhase('keep', o => o.status?.phase === 'Ready', 'Ready')
    const keepIds: string[] = (await status(keep.status.verifyCapability)).segments[0].pieces.map((p: Json) => p.id)
    await kube!.kubectlOk(['delete', 'storedfile', 'keep', '--wait=true', '--timeout=60s'])
    assert.equal((await kube!.kubectl(['get', 'storedfile', 'keep'])).code, 1)
    assert.equal(await piecesOnDisk(keepIds), keepIds.length, 'pieces stay')
    const secret = JSON.parse(await kube!.kubectlOk(['get', 'secret', 'keep-capability', '-o', 'json']))
    assert.equal(secret.metadata.ownerReferences, undefined, 'the Secret is orphaned, not collected')
    const out = join(tmp.dir, 'keep.txt')
    const dl = await runCli(['download', Buffer.from(secret.data.capability, 'base64').toString(), '-o', out, '--testnet', dir], { env: { BATCHAIN_HOME: home } })
    assert.equal(dl.code, 0, dl.stderr)
    assert.equal(await readFile(out, 'utf8'), 'keep me')
  })

  test('controller killed right after enqueuing an upload, started again → one stored copy, Ready', async t => {
    if (!ready(t)) return
    await controller!.stop()
    const held = await startController('controller-held', { BATCHAIN_FAILPOINTS: 'controller.after-enqueue=sleep(60000)' })
    extraControllers.push(held)
    await held.waitFor(e => e.event === 'leader', 'leadership', 30_000)
    await apply({ apiVersion: 'batchain.io/v1alpha1', kind: 'StoredFile', metadata: { name: 'restarted', namespace: 'default' }, spec: { source: { url: `${httpBase}/file.bin` } } })
    const enq = await held.waitFor(e => e.event === 'enqueued' && e.key === 'default/restarted', 'enqueued', 60_000)
    await held.stop('SIGKILL')
    controller = await startController('controller-a')
    const obj = await waitPhase('restarted', o => o.status?.phase === 'Ready', 'Ready after restart')
    assert.equal(obj.status.size, 300_000)
    assert.ok(!controller.events.some(e => e.event === 'enqueued' && e.key === 'default/restarted'), 'the new controller did not enqueue another upload')
    const registered = (await files!.list()).filter(r => r.owner === 'default/restarted')
    assert.equal(registered.length, 1, `one manifest registered: ${JSON.stringify(registered.map(r => r.manifestId))}`)
    assert.equal(registered[0]!.manifestId, obj.status.manifestId)
    const upload = new Queue('upload', { connection: bullConnection({ url: redisUrl, role: 'client' }), prefix: 'batchain' })
    try {
      const jobs = (await upload.getJobs(['completed', 'failed', 'active', 'waiting', 'delayed'])).filter(j => j.name === 'upload-file' && j.data.owner === 'default/restarted')
      assert.deepEqual(jobs.map(j => j.id), [enq.jobId], 'exactly one upload job')
    } finally { await upload.close() }
  })

  test('two controllers: only the Lease holder acts; the standby takes over when it stops', async t => {
    if (!ready(t)) return
    const standby = await startController('controller-b')
    extraControllers.push(standby)
    await standby.waitFor(e => e.event === 'standby', 'standby', 30_000)
    const lease = JSON.parse(await kube!.kubectlOk(['get', 'lease', 'batchain-controller', '-n', 'batchain-system', '-o', 'json']))
    assert.equal(lease.spec.holderIdentity, 'controller-a')
    await apply({ apiVersion: 'batchain.io/v1alpha1', kind: 'StoredFile', metadata: { name: 'two', namespace: 'default' }, spec: { source: { inline: 'two controllers' } } })
    await waitPhase('two', o => o.status?.phase === 'Ready', 'Ready')
    assert.ok(controller!.events.some(e => e.event === 'reconciled' && e.key === 'default/two'))
    assert.ok(!standby.events.some(e => e.event === 'reconciled' || e.event === 'enqueued' || e.event === 'leader'), `standby acted: ${JSON.stringify(standby.events.slice(-5))}`)
    const ev = await events('two')
    assert.ok(ev.every(e => e.reportingInstance === 'controller-a'), JSON.stringify(ev.map(e => e.reportingInstance)))
    // the leader stops (releases the Lease) → the standby leads and reconciles
    await controller!.stop()
    await standby.waitFor(e => e.event === 'leader', 'takeover', 30_000)
    await standby.waitFor(e => e.event === 'reconciled' && e.key === 'default/two', 'standby reconciles after takeover', 30_000)
    const after = JSON.parse(await kube!.kubectlOk(['get', 'lease', 'batchain-controller', '-n', 'batchain-system', '-o', 'json']))
    assert.equal(after.spec.holderIdentity, 'controller-b')
    assert.ok(after.spec.leaseTransitions >= 1)
  })
})

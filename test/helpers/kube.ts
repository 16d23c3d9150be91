import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes, generateKeyPairSync } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { request } from 'node:https'
import { request as httpRequest } from 'node:http'
import { dirname, join, resolve } from 'node:path'
import type { TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { hasCommand, isCI, requirePrerequisite } from './ci.js'
import { freePorts } from './ports.js'
import { tempDir, type TempDir } from './tmp.js'

/**
 * A real etcd + kube-apiserver for a test, on loopback only, built by scripts/kube-tools.sh (which
 * scripts/test.sh runs; it exports BATCHAIN_KUBE_BIN). No controller-manager, scheduler or kubelet:
 * no garbage collection, no namespace deletion, no pods — enough for CRDs, RBAC, watches and status.
 *
 *   const kube = await startKube()           // undefined when skipped (no binaries/openssl, not CI)
 *   if (!requireKube(kube, t)) return
 *   t.after(async () => { await kube.stop() })
 *   await kube.kubectl(['apply', '-f', 'manifests/crds/'])
 *
 * - etcd: own data dir, client and peer URLs on free 127.0.0.1 ports (fsync off: test data only).
 * - kube-apiserver: https://127.0.0.1:PORT, serving cert signed by a fresh CA (openssl CLI),
 *   a fresh service-account key pair, --authorization-mode=RBAC, static token identities:
 *   `admin` (group system:masters) and `user` (no groups beyond system:authenticated, so it can do
 *   nothing until a test binds a Role to it); `options.users` adds more.
 * - writes one kubeconfig per identity (kubeconfigs[name]; `kubeconfig` is the admin one).
 * - waits (bounded) until /readyz answers ok; stop() kills both and removes the temp dir.
 * Under CI=true a missing prerequisite throws instead of skipping (test/helpers/ci.ts).
 * The processes get PR_SET_PDEATHSIG (setpriv) when available, so a test runner killed with
 * SIGKILL does not leave an apiserver behind.
 */
export interface KubeIdentity {
  readonly name: string
  readonly token: string
  readonly groups: readonly string[]
  /** A kubeconfig whose current context is this identity. */
  readonly kubeconfig: string
}

export interface KubeCluster {
  /** https://127.0.0.1:PORT */
  readonly server: string
  /** Admin kubeconfig (system:masters). */
  readonly kubeconfig: string
  readonly adminToken: string
  /** Token of the unprivileged `user` identity. */
  readonly userToken: string
  readonly identities: Readonly<Record<string, KubeIdentity>>
  /** PEM file of the CA that signed the serving certificate. */
  readonly caFile: string
  readonly binDir: string
  readonly dir: string
  readonly etcdUrl: string
  /** Runs the built kubectl against this cluster (admin unless `as` names another identity). */
  kubectl: (args: readonly string[], options?: KubectlOptions) => Promise<KubectlResult>
  /** Like kubectl, but throws with stderr when the exit code is not 0; resolves to stdout. */
  kubectlOk: (args: readonly string[], options?: KubectlOptions) => Promise<string>
  /** An HTTPS request to the apiserver with the identity's bearer token (admin by default). */
  request: (method: string, path: string, options?: RawRequestOptions) => Promise<RawResponse>
  /** Kills kube-apiserver and etcd (SIGTERM, SIGKILL after 10 s) and removes the temp dir. Idempotent. */
  stop: () => Promise<void>
}

export interface StartKubeOptions {
  /** Skips (t.skip) instead of returning undefined silently when prerequisites are missing. */
  t?: TestContext
  /** Directory with kube-apiserver, etcd, kubectl (default: $BATCHAIN_KUBE_BIN, else the kube-tools cache). */
  binDir?: string
  /** Extra token identities: name → groups (system:authenticated is always added by the apiserver). */
  users?: Record<string, readonly string[]>
  /** Extra kube-apiserver flags, e.g. ['--feature-gates=...']. */
  apiserverArgs?: readonly string[]
  /** Bound on waiting for etcd and /readyz (default 120 s). */
  readyTimeoutMs?: number
}

export interface KubectlOptions {
  /** Identity to act as (default admin). */
  as?: string
  /** Written to kubectl's stdin. */
  input?: string
  /** Default 60 s. */
  timeoutMs?: number
}

export interface KubectlResult {
  code: number
  stdout: string
  stderr: string
}

export interface RawRequestOptions {
  as?: string
  body?: unknown
  contentType?: string
  timeoutMs?: number
}

export interface RawResponse {
  status: number
  body: string
  /** Parsed JSON body, or undefined when it is not JSON. */
  json: unknown
}

const TOOLS = ['kube-apiserver', 'etcd', 'kubectl'] as const
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const HINT = 'bash scripts/kube-tools.sh builds them once (5-10 min, cached outside the repo); scripts/test.sh runs it'

/**
 * The directory holding kube-apiserver, etcd and kubectl, or undefined when they are not built:
 * $BATCHAIN_KUBE_BIN, else what `scripts/kube-tools.sh --check` reports (it never builds).
 */
export function kubeBinDir (): string | undefined {
  const candidates: string[] = []
  const fromEnv = process.env.BATCHAIN_KUBE_BIN
  if (fromEnv !== undefined && fromEnv !== '') candidates.push(fromEnv)
  else {
    const check = spawnSync('bash', [join(ROOT, 'scripts', 'kube-tools.sh'), '--check'], { encoding: 'utf8', timeout: 10_000 })
    const last = check.status === 0 ? check.stdout.trim().split('\n').pop() : undefined
    if (last !== undefined && last !== '') candidates.push(last)
  }
  return candidates.find(dir => TOOLS.every(tool => hasCommand(join(dir, tool))))
}

/** In a test: false (skipped) when the suite's cluster could not start for want of a prerequisite; throws under CI. */
export function requireKube (kube: KubeCluster | undefined, t: TestContext): kube is KubeCluster {
  return requirePrerequisite('kube-apiserver, etcd, kubectl, openssl', kube !== undefined, t, HINT)
}

/**
 * Starts etcd and kube-apiserver, or returns undefined when a prerequisite is missing outside CI
 * (after t.skip() when options.t is given; from a before() hook pass none and call requireKube(kube, t)
 * in each test). Throws when they are there but do not come up.
 */
export async function startKube (options: StartKubeOptions = {}): Promise<KubeCluster | undefined> {
  const binDir = options.binDir ?? kubeBinDir()
  const missing: string[] = []
  if (binDir === undefined || !TOOLS.every(tool => hasCommand(join(binDir, tool)))) missing.push(`kube-apiserver, etcd, kubectl (${HINT})`)
  if (!hasCommand('openssl')) missing.push('openssl (apt-get install openssl)')
  if (missing.length > 0) {
    const what = missing.join('; ')
    if (options.t !== undefined) {
      requirePrerequisite(what, false, options.t)
      return undefined
    }
    if (isCI()) throw new Error(`prerequisite missing: ${what}; CI=true requires every prerequisite`)
    return undefined
  }
  const tmp = await tempDir('kube')
  const cluster = new Cluster(binDir!, tmp, options)
  try {
    await cluster.start()
  } catch (err) {
    await cluster.stop()
    throw err
  }
  return cluster
}

const live = new Set<ChildProcess>()
let exitHook = false
function track (proc: ChildProcess): void {
  live.add(proc)
  proc.once('exit', () => live.delete(proc))
  if (!exitHook) {
    exitHook = true
    // Last resort when a test forgets stop() or the process exits early: never leave an apiserver running.
    process.once('exit', () => { for (const p of live) p.kill('SIGKILL') })
  }
}

const PDEATHSIG = hasCommand('setpriv') &&
  spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true'], { timeout: 5000 }).status === 0

class Cluster implements KubeCluster {
  server = ''
  kubeconfig = ''
  adminToken = ''
  userToken = ''
  etcdUrl = ''
  identities: Record<string, KubeIdentity> = {}
  private readonly procs: Array<{ name: string, proc: ChildProcess, log: () => string }> = []
  private stopped: Promise<void> | undefined

  constructor (readonly binDir: string, private readonly tmp: TempDir, private readonly options: StartKubeOptions) {}

  get dir (): string { return this.tmp.dir }
  get caFile (): string { return join(this.tmp.dir, 'pki', 'ca.crt') }

  async start (): Promise<void> {
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 120_000)
    const pki = join(this.dir, 'pki')
    await mkdir(pki, { recursive: true })
    await makePki(pki)

    const [etcdClient, etcdPeer, securePort] = await freePorts(3)
    this.etcdUrl = `http://127.0.0.1:${etcdClient!}`
    this.server = `https://127.0.0.1:${securePort!}`

    // Identities: static tokens (--token-auth-file: token,user,uid,"group1,group2").
    const users: Record<string, readonly string[]> = { admin: ['system:masters'], user: [], ...this.options.users }
    const lines: string[] = []
    for (const [name, groups] of Object.entries(users)) {
      if (!/^[a-z0-9][-a-z0-9.:]*$/.test(name)) throw new Error(`startKube: bad identity name ${name}`)
      const token = randomBytes(24).toString('hex')
      lines.push(`${token},${name},uid-${name}${groups.length > 0 ? `,"${groups.join(',')}"` : ''}`)
      const kubeconfig = join(this.dir, `kubeconfig-${name}.json`)
      await writeFile(kubeconfig, JSON.stringify(kubeconfigFor(this.server, this.caFile, name, token), null, 2), { mode: 0o600 })
      this.identities[name] = { name, token, groups, kubeconfig }
    }
    await writeFile(join(pki, 'tokens.csv'), lines.join('\n') + '\n', { mode: 0o600 })
    this.adminToken = this.identities.admin!.token
    this.userToken = this.identities.user!.token
    this.kubeconfig = this.identities.admin!.kubeconfig

    const etcd = this.spawn('etcd', join(this.binDir, 'etcd'), [
      '--name=batchain-test', `--data-dir=${join(this.dir, 'etcd')}`,
      `--listen-client-urls=${this.etcdUrl}`, `--advertise-client-urls=${this.etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer!}`, `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer!}`,
      `--initial-cluster=batchain-test=http://127.0.0.1:${etcdPeer!}`, '--initial-cluster-state=new',
      '--unsafe-no-fsync', '--log-level=warn'
    ])
    await this.waitFor('etcd /health', deadline, etcd, async () => {
      const r = await call(httpRequest, `${this.etcdUrl}/health`, {})
      return r.status === 200 && /"health":\s*"true"/.test(r.body)
    })

    const apiserver = this.spawn('kube-apiserver', join(this.binDir, 'kube-apiserver'), [
      `--etcd-servers=${this.etcdUrl}`,
      '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${securePort!}`,
      `--tls-cert-file=${join(pki, 'apiserver.crt')}`, `--tls-private-key-file=${join(pki, 'apiserver.key')}`,
      `--client-ca-file=${join(pki, 'ca.crt')}`,
      `--token-auth-file=${join(pki, 'tokens.csv')}`,
      '--authorization-mode=RBAC', '--anonymous-auth=false',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      // No kubernetes Service endpoints: 127.0.0.1 is not a valid endpoint address.
      '--endpoint-reconciler-type=none',
      '--allow-privileged=false', '--profiling=false', `--cert-dir=${join(this.dir, 'certs')}`,
      '-v=0',
      ...(this.options.apiserverArgs ?? [])
    ])
    await this.waitFor('kube-apiserver /readyz', deadline, apiserver, async () => {
      const r = await this.request('GET', '/readyz', { timeoutMs: 5000 })
      return r.status === 200 && r.body.trim() === 'ok'
    })
  }

  async kubectl (args: readonly string[], options: KubectlOptions = {}): Promise<KubectlResult> {
    const identity = this.identity(options.as)
    const full = ['--kubeconfig', identity.kubeconfig, '--cache-dir', join(this.dir, 'kubectl-cache'), ...args]
    return await new Promise<KubectlResult>((resolve, reject) => {
      const child = execFile(join(this.binDir, 'kubectl'), full, {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 16 * 1024 * 1024,
        // kubectl reads nothing else from the environment (no $HOME/.kube, no other KUBECONFIG).
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: this.dir, KUBECONFIG: identity.kubeconfig }
      }, (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number') { reject(new Error(`kubectl ${args.join(' ')}: ${err.message}\n${stderr}`)); return }
        resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr })
      })
      child.stdin?.end(options.input ?? '')
    })
  }

  async kubectlOk (args: readonly string[], options: KubectlOptions = {}): Promise<string> {
    const r = await this.kubectl(args, options)
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`)
    return r.stdout
  }

  async request (method: string, path: string, options: RawRequestOptions = {}): Promise<RawResponse> {
    const identity = this.identity(options.as)
    const headers: Record<string, string> = { Authorization: `Bearer ${identity.token}`, Accept: 'application/json' }
    let body: string | undefined
    if (options.body !== undefined) {
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body)
      headers['Content-Type'] = options.contentType ?? 'application/json'
    }
    return await call(request, `${this.server}${path}`, { method, headers, body, ca: readFileSync(this.caFile), timeoutMs: options.timeoutMs })
  }

  async stop (): Promise<void> {
    this.stopped ??= (async () => {
      // apiserver first (it would log etcd connection errors otherwise), then etcd.
      for (const { proc } of [...this.procs].reverse()) await kill(proc)
      await this.tmp[Symbol.asyncDispose]()
    })()
    await this.stopped
  }

  private identity (name = 'admin'): KubeIdentity {
    const identity = this.identities[name]
    if (identity === undefined) throw new Error(`no identity ${name} (have ${Object.keys(this.identities).join(', ')})`)
    return identity
  }

  private spawn (name: string, bin: string, args: string[]): ChildProcess {
    const [cmd, full] = PDEATHSIG ? ['setpriv', ['--pdeathsig', 'KILL', '--', bin, ...args]] : [bin, args]
    const proc = spawn(cmd, full, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: this.dir } })
    let log = ''
    const onData = (d: Buffer): void => { log = (log + d.toString('utf8')).slice(-8000) }
    proc.stdout!.on('data', onData)
    proc.stderr!.on('data', onData)
    track(proc)
    this.procs.push({ name, proc, log: () => log })
    return proc
  }

  /** Polls check every 250 ms until it is true, the process exits or the deadline passes. */
  private async waitFor (what: string, deadline: number, proc: ChildProcess, check: () => Promise<boolean>): Promise<void> {
    const entry = this.procs.find(p => p.proc === proc)!
    let last = ''
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`${entry.name} exited (${proc.exitCode ?? proc.signalCode}) before ${what} was ok:\n${entry.log()}`)
      }
      try {
        if (await check()) return
      } catch (err) {
        last = (err as Error).message
      }
      await new Promise(resolve => setTimeout(resolve, 250))
    }
    throw new Error(`${what} not ok within the deadline (last error: ${last || 'none'}):\n${entry.log()}`)
  }
}

function kubeconfigFor (server: string, caFile: string, user: string, token: string): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'batchain-test', cluster: { server, 'certificate-authority': caFile } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: user, context: { cluster: 'batchain-test', user, namespace: 'default' } }],
    'current-context': user
  }
}

/** CA, a serving certificate for 127.0.0.1/localhost signed by it, and a service-account key pair. */
async function makePki (dir: string): Promise<void> {
  const p = (f: string): string => join(dir, f)
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '2', '-subj', '/CN=batchain-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', p('apiserver.key'), '-out', p('apiserver.csr'), '-subj', '/CN=kube-apiserver'])
  await writeFile(p('apiserver.ext'), [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1'
  ].join('\n') + '\n')
  await openssl(['x509', '-req', '-in', p('apiserver.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'),
    '-CAcreateserial', '-out', p('apiserver.crt'), '-days', '2', '-extfile', p('apiserver.ext')])
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  await writeFile(p('sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
  await writeFile(p('sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }))
  if (!existsSync(p('apiserver.crt'))) throw new Error('openssl did not write the serving certificate')
}

async function openssl (args: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile('openssl', args, { timeout: 30_000 }, (err, _stdout, stderr) => {
      if (err !== null) reject(new Error(`openssl ${args[0]} failed: ${err.message}\n${stderr}`))
      else resolve()
    })
  })
}

interface CallOptions {
  method?: string
  headers?: Record<string, string>
  body?: string | undefined
  ca?: Buffer
  timeoutMs?: number | undefined
}

async function call (impl: typeof request | typeof httpRequest, url: string, options: CallOptions): Promise<RawResponse> {
  return await new Promise<RawResponse>((resolve, reject) => {
    const req = impl(url, { method: options.method ?? 'GET', headers: options.headers, ca: options.ca, timeout: options.timeoutMs ?? 10_000 }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        let json: unknown
        try { json = JSON.parse(body) } catch { json = undefined }
        resolve({ status: res.statusCode ?? 0, body, json })
      })
    })
    req.on('timeout', () => { req.destroy(new Error(`${options.method ?? 'GET'} ${url} timed out`)) })
    req.on('error', reject)
    req.end(options.body)
  })
}

async function kill (proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise<void>(resolve => proc.once('exit', () => { resolve() }))
  proc.kill('SIGTERM')
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

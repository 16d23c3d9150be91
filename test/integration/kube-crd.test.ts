import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { requireKube, startKube, type KubeCluster } from '../helpers/kube.js'

/**
 * The StoredFile CRD (manifests/crds/) on a real kube-apiserver + etcd (test/helpers/kube.ts):
 * installed with the built kubectl, defaults, printer columns, the API server refusing invalid specs
 * with a useful message, the immutable source kind, and the status subresource.
 */
const CRD = 'storedfiles.batchain.io'
const API = '/apis/batchain.io/v1alpha1/namespaces/default/storedfiles'

type Json = Record<string, unknown>

function storedFile (name: string, spec: unknown): Json {
  const obj: Json = { apiVersion: 'batchain.io/v1alpha1', kind: 'StoredFile', metadata: { name } }
  if (spec !== undefined) obj.spec = spec
  return obj
}

/** Splits a kubectl table line on runs of 2+ spaces (column values here have no double spaces). */
function cells (line: string): string[] {
  return line.trim().split(/\s{2,}/)
}

describe('StoredFile CRD on a real kube-apiserver', () => {
  let kube: KubeCluster | undefined

  before(async () => {
    kube = await startKube()
    if (kube === undefined) return
    await kube.kubectlOk(['apply', '-f', 'manifests/crds/'])
    await kube.kubectlOk(['wait', '--for=condition=Established', `crd/${CRD}`, '--timeout=60s'])
    // Discovery follows Established shortly after; bounded wait until kubectl resolves the short name.
    for (let attempt = 0; ; attempt++) {
      const r = await kube.kubectl(['get', 'sf'])
      if (r.code === 0) break
      if (attempt >= 60) throw new Error(`kubectl get sf still fails after the CRD is Established: ${r.stderr}`)
      await new Promise(resolve => setTimeout(resolve, 500))
    }
  })

  after(async () => {
    await kube?.stop()
  })

  const create = async (k: KubeCluster, obj: Json): Promise<{ code: number, stdout: string, stderr: string }> =>
    await k.kubectl(['create', '-f', '-', '-o', 'json'], { input: JSON.stringify(obj) })

  const getJson = async (k: KubeCluster, name: string): Promise<Json> =>
    JSON.parse(await k.kubectlOk(['get', 'storedfile', name, '-o', 'json'])) as Json

  test('the CRD is established: group, names, scope, version, status subresource', async (t) => {
    if (!requireKube(kube, t)) return
    const crd = JSON.parse(await kube.kubectlOk(['get', 'crd', CRD, '-o', 'json'])) as {
      spec: { group: string, scope: string, names: { kind: string, plural: string, shortNames: string[] }, versions: Array<{ name: string, served: boolean, storage: boolean, subresources?: { status?: unknown } }> }
      status: { conditions: Array<{ type: string, status: string }> }
    }
    assert.equal(crd.spec.group, 'batchain.io')
    assert.equal(crd.spec.scope, 'Namespaced')
    assert.equal(crd.spec.names.kind, 'StoredFile')
    assert.equal(crd.spec.names.plural, 'storedfiles')
    assert.deepEqual(crd.spec.names.shortNames, ['sf'])
    assert.deepEqual(crd.spec.versions.map(v => [v.name, v.served, v.storage]), [['v1alpha1', true, true]])
    assert.deepEqual(crd.spec.versions[0]!.subresources?.status, {})
    for (const type of ['Established', 'NamesAccepted']) {
      assert.equal(crd.status.conditions.find(c => c.type === type)?.status, 'True', `${type}: ${JSON.stringify(crd.status.conditions)}`)
    }
    const resources = await kube.kubectlOk(['api-resources', '--api-group=batchain.io', '--no-headers'])
    assert.match(resources, /^storedfiles\s+sf\s+batchain\.io\/v1alpha1\s+true\s+StoredFile\s*$/m)
  })

  test('a valid StoredFile is stored with its defaults applied', async (t) => {
    if (!requireKube(kube, t)) return
    const r = await create(kube, storedFile('defaults', { source: { inline: 'hello batchain\n' } }))
    assert.equal(r.code, 0, r.stderr)
    const created = JSON.parse(r.stdout) as { spec: Json, metadata: { generation: number }, status?: unknown }
    assert.deepEqual(created.spec, {
      source: { inline: 'hello batchain\n' },
      // repairThreshold stays unset: omitted means dataShards + 1, computed by the operator.
      redundancy: { dataShards: 4, parityShards: 2 },
      auditInterval: '1h',
      deletionPolicy: 'Delete'
    })
    assert.equal(created.metadata.generation, 1)
    assert.equal(created.status, undefined)
    // And it is what the server keeps.
    assert.deepEqual((await getJson(kube, 'defaults')).spec, created.spec)
  })

  test('boundary values are accepted for every kind of source', async (t) => {
    if (!requireKube(kube, t)) return
    const specs: Array<[string, Json]> = [
      ['edge-configmap', { source: { configMapKeyRef: { name: 'files', key: 'report.pdf' } }, redundancy: { dataShards: 1, parityShards: 1, repairThreshold: 2 }, auditInterval: '720h', deletionPolicy: 'Retain' }],
      ['edge-secret', { source: { secretKeyRef: { name: 'creds.v1', key: 'id_ed25519' } }, redundancy: { dataShards: 32, parityShards: 32, repairThreshold: 32 }, auditInterval: '1m' }],
      ['edge-url', { source: { url: 'https://files.example.com/a/b.tar.gz?x=1' }, redundancy: { dataShards: 4, parityShards: 2, repairThreshold: 6 }, auditInterval: '1h30m' }],
      ['edge-http', { source: { url: 'http://127.0.0.1:8080/f' }, redundancy: { parityShards: 1 } }],
      ['edge-inline-max', { source: { inline: 'x'.repeat(131072) } }]
    ]
    for (const [name, spec] of specs) {
      const r = await create(kube, storedFile(name, spec))
      assert.equal(r.code, 0, `${name}: ${r.stderr}`)
      const stored = (JSON.parse(r.stdout) as { spec: Json }).spec
      assert.deepEqual(stored.source, spec.source, name)
      if (spec.redundancy !== undefined) {
        assert.deepEqual(stored.redundancy, { dataShards: 4, parityShards: 2, ...(spec.redundancy as Json) }, name)
      }
      if (spec.auditInterval !== undefined) assert.equal(stored.auditInterval, spec.auditInterval, name)
    }
  })

  test('invalid specs are refused by the API server with a message naming the problem', async (t) => {
    if (!requireKube(kube, t)) return
    const inline = { inline: 'x' }
    const cases: Array<[string, unknown, RegExp]> = [
      ['two-sources', { source: { inline: 'x', url: 'https://example.com/f' } }, /spec\.source: Invalid value: "object": source must set exactly one of inline, configMapKeyRef, secretKeyRef or url/],
      ['empty-source', { source: {} }, /source must set exactly one of inline, configMapKeyRef, secretKeyRef or url/],
      ['no-source', { deletionPolicy: 'Delete' }, /spec\.source: Required value/],
      ['no-spec', undefined, /spec: Required value/],
      ['parity-zero', { source: inline, redundancy: { dataShards: 4, parityShards: 0 } }, /spec\.redundancy\.parityShards: Invalid value: 0: spec\.redundancy\.parityShards in body should be greater than or equal to 1/],
      ['data-too-many', { source: inline, redundancy: { dataShards: 33 } }, /spec\.redundancy\.dataShards: Invalid value: 33: .*less than or equal to 32/],
      ['threshold-below-data', { source: inline, redundancy: { dataShards: 4, parityShards: 2, repairThreshold: 3 } }, /spec\.redundancy\.repairThreshold: Invalid value: .*repairThreshold must be between dataShards and dataShards \+ parityShards \(inclusive\)/],
      ['threshold-above-total', { source: inline, redundancy: { dataShards: 4, parityShards: 2, repairThreshold: 7 } }, /spec\.redundancy\.repairThreshold: Invalid value: .*repairThreshold must be between dataShards and dataShards \+ parityShards/],
      ['threshold-default-data', { source: inline, redundancy: { repairThreshold: 7 } }, /repairThreshold must be between dataShards and dataShards \+ parityShards/],
      ['url-ftp', { source: { url: 'ftp://example.com/f' } }, /spec\.source\.url: Invalid value: .*url must be an absolute http:\/\/ or https:\/\/ URL with a host/],
      ['url-file', { source: { url: 'file:///etc/passwd' } }, /url must be an absolute http:\/\/ or https:\/\/ URL with a host/],
      ['url-relative', { source: { url: 'example.com/f' } }, /url must be an absolute http:\/\/ or https:\/\/ URL with a host/],
      ['url-credentials', { source: { url: 'https://me:secret@example.com/f' } }, /url must not carry credentials/],
      ['bad-deletion-policy', { source: inline, deletionPolicy: 'Destroy' }, /spec\.deletionPolicy: Unsupported value: "Destroy": supported values: "Delete", "Retain"/],
      ['audit-too-short', { source: inline, auditInterval: '30s' }, /spec\.auditInterval: Invalid value: .*auditInterval must be between 1m and 720h \(30 days\)/],
      ['audit-too-long', { source: inline, auditInterval: '721h' }, /auditInterval must be between 1m and 720h/],
      ['audit-days', { source: inline, auditInterval: '1d' }, /spec\.auditInterval: Invalid value: "1d": spec\.auditInterval in body should match/],
      ['inline-too-long', { source: { inline: 'x'.repeat(131073) } }, /spec\.source\.inline: Too long: may not be (longer than|more than) 131072/],
      ['configmap-no-key', { source: { configMapKeyRef: { name: 'files' } } }, /spec\.source\.configMapKeyRef\.key: Required value/],
      ['secret-bad-name', { source: { secretKeyRef: { name: 'Not_A_Name', key: 'k' } } }, /spec\.source\.secretKeyRef\.name: Invalid value: "Not_A_Name"/],
      ['typo-field', { source: inline, redundency: { dataShards: 2 } }, /unknown field "spec\.redundency"/]
    ]
    const failures: string[] = []
    for (const [name, spec, expected] of cases) {
      const r = await create(kube, storedFile(`bad-${name}`, spec))
      if (r.code === 0) {
        failures.push(`${name}: accepted (${JSON.stringify(spec).slice(0, 200)})`)
        continue
      }
      if (!expected.test(r.stderr)) failures.push(`${name}: refused, but the message does not match ${String(expected)}: ${r.stderr.trim()}`)
      // A rule that cannot evaluate (e.g. duration('1d')) reports a raw CEL error instead of its message.
      if (/evaluating rule|conversion error|no such key/.test(r.stderr)) failures.push(`${name}: a CEL rule failed to evaluate: ${r.stderr.trim()}`)
      const get = await kube.kubectl(['get', 'sf', `bad-${name}`])
      if (get.code === 0 || !/NotFound/.test(get.stderr)) failures.push(`${name}: the object exists after the refusal`)
    }
    assert.deepEqual(failures, [])
  })

  test('the kind of source is immutable; its value and the redundancy may change (generation moves)', async (t) => {
    if (!requireKube(kube, t)) return
    assert.equal((await create(kube, storedFile('immutable', { source: { inline: 'v1' } }))).code, 0)
    const patch = async (body: unknown): Promise<{ code: number, stdout: string, stderr: string }> =>
      await kube!.kubectl(['patch', 'storedfile', 'immutable', '--type=merge', '-p', JSON.stringify(body)])

    const toUrl = await patch({ spec: { source: { inline: null, url: 'https://example.com/v2' } } })
    assert.notEqual(toUrl.code, 0, 'switching inline -> url was accepted')
    assert.match(toUrl.stderr, /spec\.source: Invalid value: "object": the kind of source \(inline, configMapKeyRef, secretKeyRef or url\) is immutable/)
    const toSecret = await patch({ spec: { source: { inline: null, secretKeyRef: { name: 's', key: 'k' } } } })
    assert.notEqual(toSecret.code, 0, 'switching inline -> secretKeyRef was accepted')
    assert.match(toSecret.stderr, /kind of source .* is immutable/)
    let obj = await getJson(kube, 'immutable') as { spec: { source: Json }, metadata: { generation: number } }
    assert.deepEqual(obj.spec.source, { inline: 'v1' })
    assert.equal(obj.metadata.generation, 1)

    const newValue = await patch({ spec: { source: { inline: 'v2' }, redundancy: { dataShards: 8, parityShards: 4 } } })
    assert.equal(newValue.code, 0, newValue.stderr)
    obj = await getJson(kube, 'immutable') as typeof obj
    assert.deepEqual(obj.spec.source, { inline: 'v2' })
    assert.equal(obj.metadata.generation, 2)
  })

  test('status subresource: merge patches on /status, spec and status kept apart, status validated, printer columns', async (t) => {
    if (!requireKube(kube, t)) return
    const name = 'with-status'
    assert.equal((await create(kube, storedFile(name, { source: { inline: 'hello\n' } }))).code, 0)
    const now = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace('.000Z', 'Z')
    const status = {
      phase: 'Ready',
      health: 'Healthy',
      observedGeneration: 1,
      size: 6,
      sha256: 'a'.repeat(64),
      manifestId: 'b'.repeat(64),
      verifyCapability: `batchain:v1:${'b'.repeat(64)}`,
      capabilitySecretRef: { name: `${name}-capability` },
      pieces: { good: 6, total: 6 },
      piecesSummary: '6/6',
      lastAudit: { time: now, result: 'Passed', piecesChecked: 6, piecesFailed: 0 },
      conditions: [{ type: 'Ready', status: 'True', observedGeneration: 1, lastTransitionTime: now, reason: 'Stored', message: 'all 6 pieces placed' }]
    }
    const patchStatus = async (body: unknown): Promise<{ code: number, stdout: string, stderr: string }> =>
      await kube!.kubectl(['patch', 'storedfile', name, '--subresource=status', '--type=merge', '-p', JSON.stringify(body)])

    const set = await patchStatus({ status })
    assert.equal(set.code, 0, set.stderr)
    let obj = await getJson(kube, name) as { spec: Json, status: Json, metadata: { generation: number } }
    assert.deepEqual(obj.status, status)
    assert.equal(obj.metadata.generation, 1, 'a status write must not bump the generation')

    // Printer columns.
    const table = (await kube.kubectlOk(['get', 'storedfiles', name])).trimEnd().split('\n')
    assert.deepEqual(cells(table[0]!), ['NAME', 'PHASE', 'HEALTH', 'SIZE', 'PIECES', 'LAST AUDIT', 'AGE'])
    const row = cells(table[1]!)
    assert.deepEqual(row.slice(0, 5), [name, 'Ready', 'Healthy', '6', '6/6'])
    assert.match(row[5]!, /^\d+[smhd]/, `LAST AUDIT column: ${table[1]!}`)
    const wide = (await kube.kubectlOk(['get', 'sf', name, '-o', 'wide'])).split('\n')
    assert.deepEqual(cells(wide[0]!), ['NAME', 'PHASE', 'HEALTH', 'SIZE', 'PIECES', 'LAST AUDIT', 'DATA', 'PARITY', 'AGE'])
    assert.deepEqual(cells(wide[1]!).slice(6, 8), ['4', '2'])

    // A spec change bumps the generation and leaves the status alone.
    const specChange = await kube.kubectl(['patch', 'sf', name, '--type=merge', '-p', JSON.stringify({ spec: { source: { inline: 'hello again\n' } } })])
    assert.equal(specChange.code, 0, specChange.stderr)
    obj = await getJson(kube, name) as typeof obj
    assert.equal(obj.metadata.generation, 2)
    assert.deepEqual(obj.status, status)

    // Status sent to the main resource is ignored; spec sent to /status is ignored.
    await kube.kubectlOk(['patch', 'sf', name, '--type=merge', '-p', JSON.stringify({ status: { phase: 'Failed' } })])
    await kube.kubectlOk(['patch', 'sf', name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ spec: { deletionPolicy: 'Retain' } })])
    obj = await getJson(kube, name) as typeof obj
    assert.equal(obj.status.phase, 'Ready')
    assert.equal(obj.spec.deletionPolicy, 'Delete')
    assert.equal(obj.metadata.generation, 2)

    // The status is validated too.
    const badStatus: Array<[unknown, RegExp]> = [
      [{ status: { phase: 'Exploded' } }, /status\.phase: Unsupported value: "Exploded"/],
      [{ status: { piecesSummary: '5/6' } }, /piecesSummary must be "<pieces\.good>\/<pieces\.total>"/],
      [{ status: { pieces: { good: 7, total: 6 }, piecesSummary: '7/6' } }, /pieces\.good must not exceed pieces\.total/],
      [{ status: { lastAudit: { piecesFailed: 7 } } }, /lastAudit\.piecesFailed must not exceed piecesChecked/],
      [{ status: { health: 'Great' } }, /status\.health: Unsupported value: "Great"/],
      [{ status: { sha256: 'xyz' } }, /status\.sha256: Invalid value: "xyz"/]
    ]
    for (const [body, expected] of badStatus) {
      const r = await patchStatus(body)
      assert.notEqual(r.code, 0, `accepted: ${JSON.stringify(body)}`)
      assert.match(r.stderr, expected)
    }

    // Raw HTTP as an operator would send it: a merge patch needs its content type; plain JSON is 415.
    const raw = await kube.request('PATCH', `${API}/${name}/status`, {
      body: { status: { phase: 'Degraded', health: 'Degraded', pieces: { good: 5, total: 6 }, piecesSummary: '5/6' } },
      contentType: 'application/merge-patch+json'
    })
    assert.equal(raw.status, 200, raw.body)
    const patched = raw.json as { status: Json }
    assert.equal(patched.status.phase, 'Degraded')
    assert.deepEqual(patched.status.pieces, { good: 5, total: 6 })
    assert.deepEqual(patched.status.lastAudit, status.lastAudit, 'a merge patch keeps the fields it does not name')
    const wrongType = await kube.request('PATCH', `${API}/${name}/status`, { body: { status: { phase: 'Ready' } }, contentType: 'application/json' })
    assert.equal(wrongType.status, 415, wrongType.body)
  })

  test('the unprivileged identity is refused by RBAC until granted', async (t) => {
    if (!requireKube(kube, t)) return
    assert.equal((await create(kube, storedFile('rbac-visible', { source: { inline: 'x' } }))).code, 0)
    const denied = await kube.kubectl(['get', 'storedfiles'], { as: 'user' })
    assert.notEqual(denied.code, 0)
    assert.match(denied.stderr, /storedfiles\.batchain\.io is forbidden: User "user" cannot list resource "storedfiles" in API group "batchain\.io" in the namespace "default"/)
    const raw = await kube.request('GET', API, { as: 'user' })
    assert.equal(raw.status, 403)

    await kube.kubectlOk(['create', 'role', 'sf-reader', '--verb=get,list,watch', '--resource=storedfiles.batchain.io'])
    await kube.kubectlOk(['create', 'rolebinding', 'sf-reader', '--role=sf-reader', '--user=user'])
    const allowed = await kube.kubectl(['get', 'storedfiles', '-o', 'name'], { as: 'user' })
    assert.equal(allowed.code, 0, allowed.stderr)
    assert.match(allowed.stdout, /^storedfile\.batchain\.io\/rbac-visible$/m)
    // Read-only: a write is still refused.
    const write = await kube.kubectl(['delete', 'storedfile', 'rbac-visible'], { as: 'user' })
    assert.notEqual(write.code, 0)
    assert.match(write.stderr, /cannot delete resource "storedfiles"/)
  })
})

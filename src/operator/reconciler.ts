import { createHash } from 'node:crypto'
import { Job } from 'bullmq'
import { failpoint } from '../core/failpoints.js'
import type { Logger } from '../core/logger.js'
import { openSealed, type SealKeys } from '../crypto/sealed-box.js'
import type { FileRegistry } from '../jobs/file-registry.js'
import { MAX_INLINE_BASE64, type PayloadOf } from '../jobs/payloads.js'
import type { JobProducer } from '../jobs/producer.js'
import type { DeleteJobResult, UploadJobResult } from '../jobs/upload-jobs.js'
import { apiErrorMessage, statusCodeOf, type KubeClient } from './kube.js'
import {
  API_VERSION, FINALIZER, KIND, WORKER_MAX_DATA_SHARDS, WORKER_MAX_PARITY_SHARDS,
  auditSchedulerId, capabilitySecretName, dataHashOf, deleteJobId, healthOf, kubeTime,
  parseGoDuration, redact, redundancyOf, setCondition, sourceKindOf, statusMergePatch, uploadJobId,
  type Condition, type StoredFile, type StoredFileStatus
} from './status.js'
import type { ProcessResult } from './workqueue.js'

/**
 * One level-triggered, idempotent reconcile of a StoredFile: read it fresh, compare what is
 * (status, the upload job in Redis, the file registry) with what the spec asks, do the next step,
 * write status. Nothing is remembered between runs that cannot be rebuilt from those three, so a
 * restarted controller continues where the last one stopped: the upload job's id is derived from
 * the object's uid and the hash of its data, so the same data is never enqueued twice and a job
 * that finished while no controller ran is picked up.
 */
export interface ReconcilerInit {
  kube: KubeClient
  producer: JobProducer
  files: FileRegistry
  sealKeys: SealKeys
  /** Events' reportingInstance (the controller's identity). */
  instance: string
  logger?: Logger
  /** Poll of a running upload/delete job, a fallback: QueueEvents wakes the key when the job ends. @defaultValue 10 s */
  pollMs?: number
  /** Status refresh while Healthy. @defaultValue 60 s */
  refreshMs?: number
  /** Status refresh while not Healthy (a repair is expected). @defaultValue 3 s */
  fastRefreshMs?: number
  /** A health check (repair-check job) is queued when the last one is older than this. @defaultValue 60 s */
  checkEveryMs?: number
  /** A failed upload job is retried (removed and enqueued again) after this. @defaultValue 60 s */
  retryFailedAfterMs?: number
  /** Called for JSON-lines progress of the CLI (and the tests). */
  onEvent?: (event: Record<string, unknown>) => void
  /** A job id the controller waits for: wake key when it finishes. */
  watchJob?: (jobId: string, key: string) => void
  now?: () => number
}

const COMPONENT = 'batchain-controller'

/** Something in the user's input we cannot use (yet): a condition with this reason, then a retry with backoff. */
class SourceProblem extends Error {
  constructor (readonly reason: string, message: string) { super(message) }
}

interface ResolvedSource {
  payload: PayloadOf<'upload', 'upload-file'>['source']
  content: { sha256?: string, url?: string }
}

export class Reconciler {
  private readonly init: ReconcilerInit
  /** Last event reason+message per object (events are for changes, not for every poll). */
  private readonly lastEvent = new Map<string, string>()
  /** Audit schedules written while leading: uid → capability|every. */
  private readonly schedules = new Map<string, string>()
  /** Health-check requests: manifest id → when queued. */
  private readonly checksQueued = new Map<string, number>()
  /** Polls of a running job so far: the fallback poll backs off (pollMs · 2^n, ≤ 60 s); QueueEvents wakes the key on completion. */
  private readonly polls = new Map<string, number>()

  private pollDelay (jobId: string): number {
    const n = this.polls.get(jobId) ?? 0
    this.polls.set(jobId, n + 1)
    if (this.polls.size > 10_000) this.polls.clear()
    return Math.min(60_000, (this.init.pollMs ?? 10_000) * 2 ** Math.min(n, 10))
  }

  constructor (init: ReconcilerInit) {
    this.init = init
  }

  private now (): number { return (this.init.now ?? Date.now)() }

  /** New leadership: schedules must be written again (another leader may have changed them). */
  resetLeadership (): void {
    this.schedules.clear()
    this.lastEvent.clear()
  }

  async reconcile (key: string, signal: AbortSignal): Promise<ProcessResult | undefined> {
    const [namespace, name] = key.split('/') as [string, string]
    const obj = await this.init.kube.getStoredFile(namespace, name)
    if (signal.aborted) return undefined
    if (obj === undefined) {
      this.init.onEvent?.({ event: 'gone', key })
      return undefined
    }
    if (obj.metadata.deletionTimestamp !== undefined) {
      if (!(obj.metadata.finalizers ?? []).includes(FINALIZER)) return undefined
      return await this.finalize(obj, signal)
    }
    if (!(obj.metadata.finalizers ?? []).includes(FINALIZER)) {
      await this.init.kube.patchStoredFile(namespace, name, { metadata: { finalizers: [...(obj.metadata.finalizers ?? []), FINALIZER], resourceVersion: obj.metadata.resourceVersion } })
      return { requeueAfterMs: 0 }
    }
    return await this.ensureStored(obj, signal)
  }

  // ---- storing ---------------------------------------------------------------------------------

  private async ensureStored (obj: StoredFile, signal: AbortSignal): Promise<ProcessResult | undefined> {
    const status = obj.status ?? {}
    const r = redundancyOf(obj.spec)
    if (r.dataShards > WORKER_MAX_DATA_SHARDS || r.parityShards > WORKER_MAX_PARITY_SHARDS) {
      await this.writeStatus(obj, this.failedStatus(obj, 'Unsupported', `this network's workers store at most ${WORKER_MAX_DATA_SHARDS} data and ${WORKER_MAX_PARITY_SHARDS} parity shards; got ${r.dataShards}+${r.parityShards}`))
      await this.emit(obj, 'Warning', 'UploadFailed', `redundancy ${r.dataShards}+${r.parityShards} is not supported by the workers`)
      return undefined
    }
    let source: ResolvedSource
    try {
      source = await this.resolveSource(obj)
    } catch (err) {
      if (!(err instanceof SourceProblem)) throw err
      const conditions = this.conditionsFor(obj, {
        Stored: status.manifestId === undefined ? ['False', err.reason, err.message] : undefined,
        Ready: status.manifestId === undefined ? ['False', err.reason, err.message] : undefined,
        SourceReady: ['False', err.reason, err.message]
      })
      await this.writeStatus(obj, { ...status, phase: status.manifestId === undefined ? 'Pending' : status.phase, conditions })
      await this.emit(obj, 'Warning', err.reason, err.message)
      return { backoff: true }
    }
    const dataHash = dataHashOf(sourceKindOf(obj.spec)!, source.content, r)
    const secretName = capabilitySecretName(obj.metadata.name)
    if (status.dataHash === dataHash && status.manifestId !== undefined && await this.secretHolds(obj, secretName, status.manifestId)) {
      return await this.refresh(obj, signal)
    }

    // The data must be stored (first time, or the spec's data changed): one job per uid and data.
    const jobId = uploadJobId(obj.metadata.uid, dataHash)
    const queue = this.init.producer.queue('upload')
    let job = await Job.fromId<PayloadOf<'upload', 'upload-file'>, UploadJobResult>(queue, jobId)
    let state = job === undefined ? undefined : await job.getState()
    if (job !== undefined && state === 'failed' && this.now() - (job.finishedOn ?? 0) >= (this.init.retryFailedAfterMs ?? 60_000)) {
      await job.remove().catch(() => {})
      job = undefined
      state = undefined
    }
    if (job === undefined) {
      // BullMQ drops finished jobs after a while; the worker also kept the result under the job id.
      const kept = await this.init.files.uploadResult(jobId, { signal }) as UploadJobResult | undefined
      if (kept !== undefined) return await this.adopt(obj, kept, dataHash, secretName, signal)
    }
    if (job === undefined || state === 'unknown') {
      const payload: PayloadOf<'upload', 'upload-file'> = {
        source: source.payload,
        name: obj.metadata.name.slice(0, 256),
        dataShards: r.dataShards,
        parityShards: r.parityShards,
        repairThreshold: r.registryThreshold,
        recipient: this.init.sealKeys.publicKey.toString('base64url'),
        owner: `${obj.metadata.namespace}/${obj.metadata.name}`
      }
      await this.init.producer.add('upload', 'upload-file', payload, { jobId }, { signal })
      this.init.onEvent?.({ event: 'enqueued', key: keyOf(obj), jobId })
      this.init.watchJob?.(jobId, keyOf(obj))
      await failpoint('controller.after-enqueue', signal)
      await this.writeStatus(obj, { ...status, phase: status.manifestId === undefined ? 'Uploading' : status.phase, conditions: this.conditionsFor(obj, { SourceReady: ['True', 'Resolved', 'the source was read'], Stored: status.manifestId === undefined ? ['False', 'Uploading', 'the file is being stored on the network'] : ['True', 'Updating', 'a new version of the file is being stored; the previous one is still readable'], ...(status.manifestId === undefined ? { Ready: ['False', 'Uploading', 'the file is being stored on the network'] } : {}) }) })
      await this.emit(obj, 'Normal', 'Uploading', `storing the file (${r.dataShards}+${r.parityShards})`)
      return { requeueAfterMs: this.init.pollMs ?? 10_000 }
    }
    this.init.watchJob?.(jobId, keyOf(obj))
    if (state === 'completed') { this.polls.delete(jobId); return await this.adopt(obj, job.returnvalue, dataHash, secretName, signal) }
    if (state === 'failed') {
      const reason = redact(job.failedReason ?? 'the upload job failed')
      const retryIn = Math.max(1000, (this.init.retryFailedAfterMs ?? 60_000) - (this.now() - (job.finishedOn ?? 0)))
      const stored = status.manifestId !== undefined
      await this.writeStatus(obj, {
        ...status,
        phase: stored ? status.phase : 'Failed',
        conditions: this.conditionsFor(obj, { SourceReady: ['True', 'Resolved', 'the source was read'], Stored: [stored ? 'True' : 'False', 'UploadFailed', `storing the file failed: ${reason} (retried in ${Math.ceil(retryIn / 1000)} s)`], ...(stored ? {} : { Ready: ['False', 'UploadFailed', `storing the file failed: ${reason}`] }) })
      })
      await this.emit(obj, 'Warning', 'UploadFailed', `storing the file failed: ${reason}`)
      return { requeueAfterMs: retryIn }
    }
    // waiting, active, delayed, prioritized, waiting-children: still running.
    if (status.manifestId === undefined && status.phase !== 'Uploading') {
      await this.writeStatus(obj, { ...status, phase: 'Uploading', conditions: this.conditionsFor(obj, { Stored: ['False', 'Uploading', 'the file is being stored on the network'], Ready: ['False', 'Uploading', 'the file is being stored on the network'] }) })
    }
    return { requeueAfterMs: this.pollDelay(jobId) }
  }

  /** A finished upload: capability into the Secret, status, audit schedule; the old copy released. */
  private async adopt (obj: StoredFile, result: UploadJobResult, dataHash: string, secretName: string, signal: AbortSignal): Promise<ProcessResult | undefined> {
    const status = obj.status ?? {}
    let capability: string
    try {
      capability = openSealed(Buffer.from(result.sealedCapability, 'base64url'), this.init.sealKeys).toString('utf8')
    } catch {
      await this.writeStatus(obj, this.failedStatus(obj, 'CapabilityUnreadable', 'the upload finished but its capability was sealed to another controller key (was --seal-key changed?)'))
      await this.emit(obj, 'Warning', 'UploadFailed', 'the capability of the stored file cannot be opened with this controller\'s seal key')
      return { backoff: true }
    }
    if (!capability.startsWith(`batchain:r1:${result.manifestId}:`)) throw new Error('the opened capability does not name the stored manifest')
    await this.writeSecret(obj, secretName, capability, result.manifestId)
    const old = status.manifestId !== undefined && status.manifestId !== result.manifestId ? status.manifestId : undefined
    const generation = obj.metadata.generation ?? 0
    const next: StoredFileStatus = {
      ...status,
      observedGeneration: generation,
      dataHash,
      size: result.size,
      sha256: result.sha256,
      manifestId: result.manifestId,
      verifyCapability: result.capability,
      capabilitySecretRef: { name: secretName },
      pieces: { good: result.pieces, total: result.pieces },
      piecesSummary: `${result.pieces}/${result.pieces}`,
      health: 'Healthy',
      phase: 'Ready',
      conditions: this.conditionsFor(obj, {
        SourceReady: ['True', 'Resolved', 'the source was read'],
        Stored: ['True', 'Stored', `stored ${result.size} bytes as ${result.pieces} pieces (${result.dataShards}+${result.parityShards})`],
        Healthy: ['True', 'AllPiecesGood', 'every piece was stored'],
        Degraded: ['False', 'AllPiecesGood', 'every piece was stored'],
        Ready: ['True', 'Stored', 'the file is stored; its read capability is in the Secret ' + secretName]
      })
    }
    delete next.lastAudit
    delete next.lastRepair
    next.conditions = (next.conditions ?? []).filter(c => c.type !== 'Audited')
    await this.writeStatus(obj, next)
    this.init.onEvent?.({ event: 'stored', key: keyOf(obj), manifestId: result.manifestId, size: result.size, pieces: result.pieces })
    await this.emit(obj, 'Normal', 'Stored', `stored ${result.size} bytes as ${result.pieces} pieces; manifest ${result.manifestId.slice(0, 16)}…`)
    if (old !== undefined && (obj.spec.deletionPolicy ?? 'Delete') === 'Delete') {
      await this.init.producer.add('upload', 'delete-file', { capability: `batchain:v1:${old}`, owner: keyOf(obj) }, { jobId: deleteJobId(obj.metadata.uid, old) }, { signal })
      this.init.onEvent?.({ event: 'delete-enqueued', key: keyOf(obj), manifestId: old, reason: 'replaced' })
    }
    await this.ensureAuditSchedule(obj, result.capability)
    return { requeueAfterMs: this.init.fastRefreshMs ?? 3000 }
  }

  /** Stored and current: schedules in place, health from the registry into status. */
  private async refresh (obj: StoredFile, signal: AbortSignal): Promise<ProcessResult | undefined> {
    const status = obj.status ?? {}
    const manifestId = status.manifestId!
    const capability = status.verifyCapability ?? `batchain:v1:${manifestId}`
    await this.ensureAuditSchedule(obj, capability)
    const record = await this.init.files.get(manifestId, { signal })
    const view = healthOf(record)
    const now = this.now()
    // A health check when the last one is old (the check tick may be far apart): repairs follow from it.
    const checkEvery = this.init.checkEveryMs ?? 60_000
    const queuedAt = this.checksQueued.get(manifestId) ?? 0
    if (record !== undefined && now - (view.checkedAt ?? 0) >= checkEvery && now - queuedAt >= checkEvery) {
      await this.init.producer.enqueueRepairCheck(capability, manifestId, { signal })
      this.checksQueued.set(manifestId, now)
    }
    const next: StoredFileStatus = { ...status, observedGeneration: obj.metadata.generation ?? 0 }
    const wasDegraded = status.health === 'Degraded'
    if (record === undefined) {
      next.health = 'Unknown'
      next.conditions = this.conditionsFor(obj, { Healthy: ['Unknown', 'NotRegistered', 'the file is not in the durability registry (Redis was reset?)'] })
    } else if (view.pieces !== undefined) {
      next.pieces = view.pieces
      next.piecesSummary = `${view.pieces.good}/${view.pieces.total}`
      next.health = view.health
      const missing = view.pieces.total - view.pieces.good
      next.conditions = view.health === 'Healthy'
        ? this.conditionsFor(obj, { Healthy: ['True', 'AllPiecesGood', `all ${view.pieces.total} pieces are good`], Degraded: ['False', 'AllPiecesGood', `all ${view.pieces.total} pieces are good`] })
        : this.conditionsFor(obj, { Healthy: ['False', 'PiecesMissing', `${missing} of ${view.pieces.total} pieces are missing or bad; ${view.degradedSegments} segment(s) are queued for repair`], Degraded: ['True', 'PiecesMissing', `${missing} of ${view.pieces.total} pieces are missing or bad`] })
    }
    if (view.lastAudit !== undefined) {
      next.lastAudit = view.lastAudit
      const a = view.lastAudit
      next.conditions = this.conditionsFor({ ...obj, status: next }, { Audited: [a.result === 'Passed' ? 'True' : 'False', a.result, `last audit ${a.time}: ${a.piecesChecked ?? 0} pieces challenged, ${a.piecesFailed ?? 0} failed`] })
    }
    if (view.lastRepair !== undefined) next.lastRepair = view.lastRepair
    next.phase = next.health === 'Degraded' ? 'Degraded' : 'Ready'
    next.conditions = this.conditionsFor({ ...obj, status: next }, { Ready: ['True', next.health === 'Degraded' ? 'StoredDegraded' : 'Stored', next.health === 'Degraded' ? 'the file is readable; some pieces are being repaired' : 'the file is stored; its read capability is in the Secret ' + (status.capabilitySecretRef?.name ?? '') ] })
    await this.writeStatus(obj, next)
    if (next.health === 'Degraded' && !wasDegraded) await this.emit(obj, 'Warning', 'Degraded', `${(view.pieces?.total ?? 0) - (view.pieces?.good ?? 0)} of ${view.pieces?.total ?? 0} pieces are missing or bad; repair queued`)
    // A repair that finished between two refreshes still gets its event (the Degraded window can be short).
    const repairedSince = view.lastRepair !== undefined && status.lastRepair !== undefined && view.lastRepair.time !== status.lastRepair.time
    if (next.health === 'Healthy' && (wasDegraded || repairedSince || (view.lastRepair !== undefined && status.lastRepair === undefined))) await this.emit(obj, 'Normal', 'Repaired', `all ${view.pieces?.total ?? 0} pieces are good again (${view.repairs} repair(s) so far)`)
    return { requeueAfterMs: next.health === 'Healthy' ? (this.init.refreshMs ?? 60_000) : (this.init.fastRefreshMs ?? 3000) }
  }

  // ---- deleting --------------------------------------------------------------------------------

  private async finalize (obj: StoredFile, signal: AbortSignal): Promise<ProcessResult | undefined> {
    const status = obj.status ?? {}
    const policy = obj.spec.deletionPolicy ?? 'Delete'
    const secretName = status.capabilitySecretRef?.name ?? capabilitySecretName(obj.metadata.name)
    if (status.phase !== 'Deleting') {
      await this.writeStatus(obj, { ...status, phase: 'Deleting' })
    }
    // An upload of the current spec still queued or running: cancel it, or wait for it and delete its result too.
    const manifests = new Set<string>()
    if (status.manifestId !== undefined) manifests.add(status.manifestId)
    try {
      const source = await this.resolveSource(obj)
      const jobId = uploadJobId(obj.metadata.uid, dataHashOf(sourceKindOf(obj.spec)!, source.content, redundancyOf(obj.spec)))
      const job = await Job.fromId<unknown, UploadJobResult>(this.init.producer.queue('upload'), jobId)
      if (job !== undefined) {
        const state = await job.getState()
        if (state === 'active') { this.init.watchJob?.(jobId, keyOf(obj)); return { requeueAfterMs: this.init.pollMs ?? 10_000 } }
        if (state === 'completed') manifests.add(job.returnvalue.manifestId)
        else if (state !== 'failed') await job.remove().catch(() => {})
      }
    } catch (err) {
      if (!(err instanceof SourceProblem)) throw err
    }
    if (policy === 'Delete') {
      for (const manifestId of manifests) {
        const jobId = deleteJobId(obj.metadata.uid, manifestId)
        const queue = this.init.producer.queue('upload')
        const job = await Job.fromId<unknown, DeleteJobResult>(queue, jobId)
        const state = job === undefined ? undefined : await job.getState()
        if (job === undefined || state === 'unknown') {
          await this.init.producer.add('upload', 'delete-file', { capability: `batchain:v1:${manifestId}`, owner: keyOf(obj) }, { jobId }, { signal })
          this.init.watchJob?.(jobId, keyOf(obj))
          this.init.onEvent?.({ event: 'delete-enqueued', key: keyOf(obj), manifestId, reason: 'deleted' })
          return { requeueAfterMs: this.init.pollMs ?? 10_000 }
        }
        if (state === 'failed') {
          const reason = redact(job.failedReason ?? 'the delete job failed')
          await this.emit(obj, 'Warning', 'DeleteFailed', `removing the pieces failed: ${reason}; retrying`)
          if (this.now() - (job.finishedOn ?? 0) >= (this.init.retryFailedAfterMs ?? 60_000)) await job.remove().catch(() => {})
          return { requeueAfterMs: Math.max(1000, Math.min(this.init.retryFailedAfterMs ?? 60_000, 10_000)) }
        }
        if (state !== 'completed') { this.init.watchJob?.(jobId, keyOf(obj)); return { requeueAfterMs: this.init.pollMs ?? 10_000 } }
        const r = job.returnvalue
        this.init.onEvent?.({ event: 'pieces-deleted', key: keyOf(obj), manifestId, copies: r.copies, deleted: r.deleted, released: r.released, unreachable: r.unreachable })
      }
    }
    await this.removeAuditSchedule(obj.metadata.uid)
    if (policy === 'Delete') {
      // Garbage collection would remove the owned Secret; without a controller-manager nobody would.
      await this.init.kube.deleteSecret(obj.metadata.namespace, secretName)
    } else {
      // Retain keeps the capability: the Secret is orphaned so garbage collection leaves it alone.
      const secret = await this.init.kube.getSecret(obj.metadata.namespace, secretName)
      if (secret?.metadata?.ownerReferences?.some(o => o.uid === obj.metadata.uid) === true) {
        await this.init.kube.patchSecret(obj.metadata.namespace, secretName, { metadata: { ownerReferences: secret.metadata.ownerReferences.filter(o => o.uid !== obj.metadata.uid), resourceVersion: secret.metadata.resourceVersion } })
      }
    }
    await this.emit(obj, 'Normal', 'Deleted', policy === 'Delete'
      ? `the file's pieces were removed from the network (${manifests.size} stored version(s)); releasing the StoredFile`
      : `deletionPolicy Retain: the pieces stay stored and the Secret ${secretName} keeps the capability; releasing the StoredFile`)
    try {
      await this.init.kube.patchStoredFile(obj.metadata.namespace, obj.metadata.name, { metadata: { finalizers: (obj.metadata.finalizers ?? []).filter(f => f !== FINALIZER), resourceVersion: obj.metadata.resourceVersion } })
    } catch (err) {
      if (statusCodeOf(err) !== 404) throw err
    }
    this.lastEvent.delete(keyOf(obj))
    this.init.onEvent?.({ event: 'finalized', key: keyOf(obj), policy })
    return undefined
  }

  // ---- pieces ----------------------------------------------------------------------------------

  private async resolveSource (obj: StoredFile): Promise<ResolvedSource> {
    const s = obj.spec.source ?? {}
    const ns = obj.metadata.namespace
    const inline = (bytes: Buffer): ResolvedSource => {
      const base64 = bytes.toString('base64')
      if (base64.length > MAX_INLINE_BASE64) throw new SourceProblem('SourceTooLarge', `the source is ${bytes.length} bytes; at most ${Math.floor(MAX_INLINE_BASE64 * 3 / 4)} bytes can be passed inline (use a url source)`)
      return { payload: { kind: 'inline', base64 }, content: { sha256: createHash('sha256').update(bytes).digest('hex') } }
    }
    if (s.inline !== undefined) return inline(Buffer.from(s.inline, 'utf8'))
    if (s.url !== undefined) return { payload: { kind: 'url', url: s.url }, content: { url: s.url } }
    if (s.configMapKeyRef !== undefined) {
      const { name, key } = s.configMapKeyRef
      const cm = await this.readOrProblem(async () => await this.init.kube.getConfigMap(ns, name), 'ConfigMap', name)
      if (cm === undefined) throw new SourceProblem('ConfigMapNotFound', `ConfigMap ${ns}/${name} not found`)
      if (cm.data?.[key] !== undefined) return inline(Buffer.from(cm.data[key], 'utf8'))
      if (cm.binaryData?.[key] !== undefined) return inline(Buffer.from(cm.binaryData[key], 'base64'))
      throw new SourceProblem('KeyNotFound', `ConfigMap ${ns}/${name} has no key ${JSON.stringify(key)} in data or binaryData`)
    }
    if (s.secretKeyRef !== undefined) {
      const { name, key } = s.secretKeyRef
      const secret = await this.readOrProblem(async () => await this.init.kube.getSecret(ns, name), 'Secret', name)
      if (secret === undefined) throw new SourceProblem('SecretNotFound', `Secret ${ns}/${name} not found`)
      const value = secret.data?.[key] ?? (secret.stringData?.[key] === undefined ? undefined : Buffer.from(secret.stringData[key], 'utf8').toString('base64'))
      if (value === undefined) throw new SourceProblem('KeyNotFound', `Secret ${ns}/${name} has no key ${JSON.stringify(key)}`)
      return inline(Buffer.from(value, 'base64'))
    }
    throw new SourceProblem('NoSource', 'spec.source sets none of inline, configMapKeyRef, secretKeyRef or url')
  }

  private async readOrProblem<T> (read: () => Promise<T>, kind: string, name: string): Promise<T> {
    try {
      return await read()
    } catch (err) {
      if (statusCodeOf(err) === 403) throw new SourceProblem('Forbidden', `the controller may not read ${kind} ${name} (RBAC): ${apiErrorMessage(err)}`)
      throw err
    }
  }

  private async secretHolds (obj: StoredFile, secretName: string, manifestId: string): Promise<boolean> {
    const secret = await this.init.kube.getSecret(obj.metadata.namespace, secretName)
    const value = secret?.data?.capability
    if (value === undefined) return false
    return Buffer.from(value, 'base64').toString('utf8').startsWith(`batchain:r1:${manifestId}:`)
  }

  private async writeSecret (obj: StoredFile, secretName: string, capability: string, manifestId: string): Promise<void> {
    const ns = obj.metadata.namespace
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name: secretName,
        namespace: ns,
        labels: { 'app.kubernetes.io/managed-by': COMPONENT, 'batchain.io/storedfile': obj.metadata.name.slice(0, 63).replace(/[-.]+$/, '') },
        annotations: { 'batchain.io/manifest-id': manifestId },
        ownerReferences: [{ apiVersion: API_VERSION, kind: KIND, name: obj.metadata.name, uid: obj.metadata.uid, controller: true, blockOwnerDeletion: true }]
      },
      data: { capability: Buffer.from(capability, 'utf8').toString('base64') }
    }
    const existing = await this.init.kube.getSecret(ns, secretName)
    if (existing === undefined) {
      try {
        await this.init.kube.createSecret(ns, body)
        return
      } catch (err) {
        if (statusCodeOf(err) !== 409) throw err
      }
    }
    const current = existing ?? await this.init.kube.getSecret(ns, secretName)
    const owner = current?.metadata?.ownerReferences?.find(o => o.controller === true)
    if (owner !== undefined && owner.uid !== obj.metadata.uid) throw new Error(`Secret ${ns}/${secretName} belongs to another object (${owner.kind} ${owner.name})`)
    await this.init.kube.replaceSecret(ns, secretName, { ...body, metadata: { ...body.metadata, resourceVersion: current?.metadata?.resourceVersion } })
  }

  private async ensureAuditSchedule (obj: StoredFile, capability: string): Promise<void> {
    const every = parseGoDuration(obj.spec.auditInterval ?? '1h') ?? 3_600_000
    const id = auditSchedulerId(obj.metadata.uid)
    const want = `${capability}|${every}`
    if (this.schedules.get(id) === want) return
    await this.init.producer.queue('audit').upsertJobScheduler(id, { every }, { name: 'audit-file', data: { capability, tick: 0 } })
    this.schedules.set(id, want)
    this.init.onEvent?.({ event: 'audit-scheduled', key: keyOf(obj), scheduler: id, everyMs: every })
  }

  private async removeAuditSchedule (uid: string): Promise<void> {
    const id = auditSchedulerId(uid)
    await this.init.producer.queue('audit').removeJobScheduler(id)
    this.schedules.delete(id)
  }

  // ---- status and events -----------------------------------------------------------------------

  private conditionsFor (obj: StoredFile, set: Partial<Record<string, [Condition['status'], string, string] | undefined>>): Condition[] {
    let conditions = obj.status?.conditions ?? []
    const now = kubeTime(this.now())
    for (const [type, value] of Object.entries(set)) {
      if (value === undefined) continue
      conditions = setCondition(conditions, { type, status: value[0], reason: value[1], message: redact(value[2]), observedGeneration: obj.metadata.generation ?? 0 }, now)
    }
    return conditions
  }

  private failedStatus (obj: StoredFile, reason: string, message: string): StoredFileStatus {
    const status = obj.status ?? {}
    return {
      ...status,
      phase: status.manifestId === undefined ? 'Failed' : status.phase,
      conditions: this.conditionsFor(obj, { Stored: [status.manifestId === undefined ? 'False' : 'True', reason, message], ...(status.manifestId === undefined ? { Ready: ['False', reason, message] } : {}) })
    }
  }

  /** Writes status through /status when anything changed (a merge patch of the changed fields). */
  private async writeStatus (obj: StoredFile, next: StoredFileStatus): Promise<void> {
    const patch = statusMergePatch(obj.status, next)
    if (patch === undefined) return
    const updated = await this.init.kube.patchStatus(obj.metadata.namespace, obj.metadata.name, patch)
    obj.status = updated.status ?? next
    obj.metadata.resourceVersion = updated.metadata.resourceVersion
  }

  /** An Event when something a user should see changed (not on every poll). */
  private async emit (obj: StoredFile, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const key = keyOf(obj)
    const text = `${reason}|${message}`
    if (this.lastEvent.get(key) === text) return
    this.lastEvent.set(key, text)
    this.init.onEvent?.({ event: 'k8s-event', key, type, reason })
    try {
      await this.init.kube.event(obj, type, reason, redact(message), COMPONENT, this.init.instance)
    } catch (err) {
      this.init.logger?.warn({ key, reason, err: apiErrorMessage(err) }, 'could not record an Event')
    }
  }

  forget (key: string): void {
    this.lastEvent.delete(key)
  }
}

export function keyOf (obj: StoredFile): string {
  return `${obj.metadata.namespace}/${obj.metadata.name}`
}

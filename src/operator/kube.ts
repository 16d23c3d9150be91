import { randomBytes } from 'node:crypto'
import {
  ApiException, CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions,
  type CoreV1Event, type V1ConfigMap, type V1Lease, type V1Secret
} from '@kubernetes/client-node'
import { API_VERSION, FIELD_MANAGER, GROUP, KIND, PLURAL, VERSION, type StoredFile } from './status.js'

/**
 * The few Kubernetes calls the operator makes, over @kubernetes/client-node 1.4 (2.x does not load
 * on Node 20). Merge patches carry their content type explicitly: the client otherwise sends
 * json-patch and the API server refuses a merge body.
 */

/** KUBECONFIG file, else $KUBECONFIG / ~/.kube/config / in-cluster service account (loadFromDefault). */
export function loadKubeConfig (file?: string): KubeConfig {
  const kc = new KubeConfig()
  if (file !== undefined && file !== '') kc.loadFromFile(file)
  else kc.loadFromDefault()
  return kc
}

/** HTTP status of a failed API call (0 when it is not an API answer: connection errors). */
export function statusCodeOf (err: unknown): number {
  if (err instanceof ApiException) return err.code
  const code = (err as { code?: unknown, statusCode?: unknown } | null)
  if (typeof code?.statusCode === 'number') return code.statusCode
  if (typeof code?.code === 'number') return code.code
  return 0
}

/** A short reason from an API error without echoing bodies (they may carry object data). */
export function apiErrorMessage (err: unknown): string {
  if (err instanceof ApiException) {
    const body = err.body as unknown
    let msg = ''
    if (typeof body === 'string') { try { msg = (JSON.parse(body) as { message?: string }).message ?? '' } catch { msg = '' } } else if (typeof body === 'object' && body !== null) msg = (body as { message?: string }).message ?? ''
    return `HTTP ${err.code}${msg === '' ? '' : `: ${msg}`}`.slice(0, 500)
  }
  return (err instanceof Error ? err.message : String(err)).slice(0, 500)
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch)

export class KubeClient {
  readonly kc: KubeConfig
  readonly custom: CustomObjectsApi
  readonly core: CoreV1Api
  readonly coordination: CoordinationV1Api

  constructor (kc: KubeConfig) {
    this.kc = kc
    this.custom = kc.makeApiClient(CustomObjectsApi)
    this.core = kc.makeApiClient(CoreV1Api)
    this.coordination = kc.makeApiClient(CoordinationV1Api)
  }

  async getStoredFile (namespace: string, name: string): Promise<StoredFile | undefined> {
    try {
      return await this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name }) as StoredFile
    } catch (err) {
      if (statusCodeOf(err) === 404) return undefined
      throw err
    }
  }

  async listStoredFiles (namespace?: string): Promise<{ items: StoredFile[], metadata?: { resourceVersion?: string } }> {
    if (namespace === undefined) return await this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }) as { items: StoredFile[] }
    return await this.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL }) as { items: StoredFile[] }
  }

  /** Merge patch of the object (metadata: finalizers, with resourceVersion for a conditional update). */
  async patchStoredFile (namespace: string, name: string, body: Record<string, unknown>): Promise<StoredFile> {
    return await this.custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body, fieldManager: FIELD_MANAGER }, mergePatch) as StoredFile
  }

  /** Merge patch of /status (the status subresource: spec and metadata are ignored there). */
  async patchStatus (namespace: string, name: string, status: Record<string, unknown>): Promise<StoredFile> {
    return await this.custom.patchNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: { status }, fieldManager: FIELD_MANAGER }, mergePatch) as StoredFile
  }

  async getConfigMap (namespace: string, name: string): Promise<V1ConfigMap | undefined> {
    try {
      return await this.core.readNamespacedConfigMap({ namespace, name })
    } catch (err) {
      if (statusCodeOf(err) === 404) return undefined
      throw err
    }
  }

  async getSecret (namespace: string, name: string): Promise<V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ namespace, name })
    } catch (err) {
      if (statusCodeOf(err) === 404) return undefined
      throw err
    }
  }

  async createSecret (namespace: string, body: V1Secret): Promise<V1Secret> {
    return await this.core.createNamespacedSecret({ namespace, body, fieldManager: FIELD_MANAGER })
  }

  async replaceSecret (namespace: string, name: string, body: V1Secret): Promise<V1Secret> {
    return await this.core.replaceNamespacedSecret({ namespace, name, body, fieldManager: FIELD_MANAGER })
  }

  async patchSecret (namespace: string, name: string, body: Record<string, unknown>): Promise<V1Secret> {
    return await this.core.patchNamespacedSecret({ namespace, name, body, fieldManager: FIELD_MANAGER }, mergePatch)
  }

  /** Deletes a Secret; false when it was already gone. */
  async deleteSecret (namespace: string, name: string): Promise<boolean> {
    try {
      await this.core.deleteNamespacedSecret({ namespace, name })
      return true
    } catch (err) {
      if (statusCodeOf(err) === 404) return false
      throw err
    }
  }

  /** A core/v1 Event about a StoredFile (what `kubectl describe` and `kubectl get events` show). */
  async event (object: StoredFile, type: 'Normal' | 'Warning', reason: string, message: string, component: string, instance: string): Promise<void> {
    const now = new Date()
    const body: CoreV1Event = {
      metadata: { name: `${object.metadata.name}.${Date.now().toString(16)}${randomBytes(4).toString('hex')}`.slice(-253).replace(/^[-.]+/, ''), namespace: object.metadata.namespace },
      involvedObject: { apiVersion: API_VERSION, kind: KIND, name: object.metadata.name, namespace: object.metadata.namespace, uid: object.metadata.uid, ...(object.metadata.resourceVersion === undefined ? {} : { resourceVersion: object.metadata.resourceVersion }) },
      reason,
      message,
      type,
      source: { component },
      reportingComponent: component,
      reportingInstance: instance.slice(0, 128),
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1
    }
    await this.core.createNamespacedEvent({ namespace: object.metadata.namespace, body })
  }

  async getLease (namespace: string, name: string): Promise<V1Lease | undefined> {
    try {
      return await this.coordination.readNamespacedLease({ namespace, name })
    } catch (err) {
      if (statusCodeOf(err) === 404) return undefined
      throw err
    }
  }

  async createLease (namespace: string, body: V1Lease): Promise<V1Lease> {
    return await this.coordination.createNamespacedLease({ namespace, body })
  }

  /** Replace with body.metadata.resourceVersion: 409 Conflict when someone else wrote it first. */
  async replaceLease (namespace: string, name: string, body: V1Lease): Promise<V1Lease> {
    return await this.coordination.replaceNamespacedLease({ namespace, name, body })
  }
}

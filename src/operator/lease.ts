import type { V1Lease } from '@kubernetes/client-node'
import { sleep } from '../core/abort.js'
import type { Logger } from '../core/logger.js'
import { apiErrorMessage, statusCodeOf, type KubeClient } from './kube.js'

/**
 * Leader election over a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
 *   - every `retryPeriodMs` a candidate reads the Lease; it creates it when absent, renews it when
 *     it holds it, and takes it over when the holder has not renewed for leaseDurationSeconds —
 *     measured on our own clock from when we last saw the record change (no clock-skew trust in
 *     renewTime); every write is a replace conditional on the resourceVersion read, so two
 *     candidates never both win (the loser gets 409 Conflict);
 *   - the leader that cannot renew within `renewDeadlineMs` steps down before its Lease can expire
 *     for others (renewDeadline < leaseDuration), so two leaders never act at once;
 *   - stop() releases the Lease (holder cleared, duration 1 s) so a standby takes over at once.
 */
export interface LeaseElectionInit {
  kube: KubeClient
  namespace: string
  name: string
  identity: string
  leaseDurationMs?: number
  renewDeadlineMs?: number
  retryPeriodMs?: number
  logger?: Logger
  onStartedLeading: () => void
  onStoppedLeading: (reason: string) => void
  /** Another holder observed (once per change of holder). */
  onNewLeader?: (holder: string) => void
}

export interface LeaseElection {
  isLeader: () => boolean
  stop: () => Promise<void>
}

export function startLeaseElection (init: LeaseElectionInit): LeaseElection {
  const leaseDurationMs = init.leaseDurationMs ?? 15_000
  const renewDeadlineMs = init.renewDeadlineMs ?? Math.floor(leaseDurationMs * 2 / 3)
  const retryPeriodMs = init.retryPeriodMs ?? Math.max(200, Math.floor(leaseDurationMs / 5))
  const ac = new AbortController()
  let leading = false
  let lastRenew = 0
  /** What we last saw of another holder's record, and when (our clock). */
  let observed: { key: string, at: number } | undefined
  let lastHolder = ''

  const leaseBody = (current: V1Lease | undefined, now: Date, takeover: boolean): V1Lease => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: init.name, namespace: init.namespace, ...(current?.metadata?.resourceVersion === undefined ? {} : { resourceVersion: current.metadata.resourceVersion }) },
    spec: {
      holderIdentity: init.identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(leaseDurationMs / 1000)),
      acquireTime: takeover || current?.spec?.acquireTime === undefined ? microTime(now) : microTime(new Date(current.spec.acquireTime)),
      renewTime: microTime(now),
      leaseTransitions: (current?.spec?.leaseTransitions ?? 0) + (takeover && current !== undefined ? 1 : 0)
    }
  })

  const becomeLeader = (): void => {
    if (leading) return
    leading = true
    init.logger?.info({ lease: `${init.namespace}/${init.name}`, identity: init.identity }, 'started leading')
    init.onStartedLeading()
  }
  const stepDown = (reason: string): void => {
    if (!leading) return
    leading = false
    init.logger?.warn({ reason }, 'stopped leading')
    init.onStoppedLeading(reason)
  }

  const tryAcquireOrRenew = async (): Promise<void> => {
    const now = new Date()
    const current = await init.kube.getLease(init.namespace, init.name)
    if (current === undefined) {
      await init.kube.createLease(init.namespace, leaseBody(undefined, now, true))
      lastRenew = Date.now()
      becomeLeader()
      return
    }
    const holder = current.spec?.holderIdentity ?? ''
    if (holder === init.identity) {
      await init.kube.replaceLease(init.namespace, init.name, leaseBody(current, now, false))
      lastRenew = Date.now()
      becomeLeader()
      return
    }
    if (leading) stepDown(`the Lease is held by ${holder || 'nobody'}`)
    if (holder !== lastHolder) {
      lastHolder = holder
      if (holder !== '') init.onNewLeader?.(holder)
    }
    // Expiry on our clock: from when we first saw this exact record (holder + renewTime + rv).
    const key = `${holder}|${String(current.spec?.renewTime)}|${current.metadata?.resourceVersion ?? ''}`
    if (observed?.key !== key) observed = { key, at: Date.now() }
    const durationMs = (current.spec?.leaseDurationSeconds ?? 15) * 1000
    if (holder !== '' && Date.now() - observed.at < durationMs) return
    await init.kube.replaceLease(init.namespace, init.name, leaseBody(current, now, true))
    lastRenew = Date.now()
    becomeLeader()
  }

  const loop = async (): Promise<void> => {
    while (!ac.signal.aborted) {
      try {
        await tryAcquireOrRenew()
      } catch (err) {
        const code = statusCodeOf(err)
        // 409: someone else wrote the Lease between our read and write (they won this round).
        if (code !== 409) init.logger?.warn({ err: apiErrorMessage(err) }, 'lease update failed')
        if (code === 409 && leading) stepDown('lost the Lease to a concurrent update')
      }
      if (leading && Date.now() - lastRenew > renewDeadlineMs) stepDown('could not renew the Lease within the renew deadline')
      await sleep(retryPeriodMs, { signal: ac.signal }).catch(() => {})
    }
  }
  const running = loop()

  return {
    isLeader: () => leading,
    stop: async () => {
      ac.abort()
      await running
      if (leading) {
        leading = false
        try {
          const current = await init.kube.getLease(init.namespace, init.name)
          if (current?.spec?.holderIdentity === init.identity) {
            await init.kube.replaceLease(init.namespace, init.name, {
              ...current,
              spec: {
                ...current.spec,
                holderIdentity: '',
                leaseDurationSeconds: 1,
                renewTime: microTime(new Date()),
                ...(current.spec?.acquireTime === undefined ? {} : { acquireTime: microTime(new Date(current.spec.acquireTime)) })
              }
            })
          }
        } catch (err) {
          init.logger?.warn({ err: apiErrorMessage(err) }, 'could not release the Lease')
        }
        init.onStoppedLeading('stopping')
      }
    }
  }
}

/**
 * metav1.MicroTime wants exactly six fractional digits ("…05.123000Z"); the client serialises a
 * Date with three and the API server refuses it. The client passes strings through unchanged.
 */
function microTime (date: Date): Date {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as Date
}

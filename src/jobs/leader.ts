import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { Redis } from 'ioredis'
import { deadlineSignal, raceSignal, sleep, type AbortOptions } from '../core/abort.js'
import { second } from '../core/constants.js'
import { InvalidArgumentError, NotLeaderError, errorMessage } from '../core/errors.js'
import type { Logger } from '../core/logger.js'

/**
 * Leader election for the schedulers, on one Redis key.
 *
 * Why: BullMQ's upsertJobScheduler is not safe when several processes upsert the same scheduler at
 * once (a known race: duplicated or skipped iterations), so exactly one process owns the schedules.
 * Outside Kubernetes that is whichever `batchain scheduler` holds this lock; the controller will
 * take the role later through a Kubernetes Lease.
 *
 * How:
 * - acquire: `SET key token NX PX ttl`: only succeeds when nobody holds the key; the token is
 *   random per process, so no two candidates can mistake the lock for theirs.
 * - renew: every ttl/3 the holder runs a Lua check-and-set, "if GET key == token then PEXPIRE key
 *   ttl", atomic on the server, so a holder whose lock already expired and was taken by another
 *   can never extend (or delete) the new holder's lock.
 * - release: the same check-and-set with DEL, on a clean stop, so a successor need not wait a ttl.
 * - demotion: a holder that could not renew for `ttl − renewEvery` (Redis down, process paused)
 *   considers itself demoted *before* the key can expire, so two processes never both believe
 *   they lead. The residual risk is a pause longer than that margin in the middle of an upsert
 *   (clock-free fencing would need a fencing token checked by Redis itself); assertLeader() right
 *   before each upsert narrows it to the upsert's own duration.
 */
export interface LeaderElectionInit {
  redis: Redis
  /** @defaultValue 'batchain:leader:schedulers' */
  key?: string
  /** Lock lifetime. @defaultValue 15 s */
  ttlMs?: number
  /** Renew (and, when not leading, try to acquire) this often. @defaultValue ttlMs / 3 */
  renewEveryMs?: number
  /** Who we are, for logs and `GET key`; a random suffix makes the token unique. @defaultValue hostname:pid */
  name?: string
  logger?: Logger
  /** Called when this process becomes leader; `signal` fires when it stops being leader. */
  onElected?: (signal: AbortSignal) => void
  /** Called after every campaign round that did not win the lock (someone else leads). */
  onStandby?: () => void
  /** Called when leadership is lost (not on a clean stop). */
  onDemoted?: (reason: string) => void
  now?: () => number
}

export interface LeaderElection {
  readonly token: string
  isLeader: () => boolean
  /** Throws NotLeaderError unless Redis still holds our token right now. */
  assertLeader: (options?: AbortOptions) => Promise<void>
  /** Stops campaigning and releases the lock if held. */
  stop: () => Promise<void>
}

const RENEW_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`

export function startLeaderElection (init: LeaderElectionInit): LeaderElection {
  const key = init.key ?? 'batchain:leader:schedulers'
  const ttlMs = init.ttlMs ?? 15 * second
  const renewEveryMs = init.renewEveryMs ?? Math.floor(ttlMs / 3)
  if (!(ttlMs >= 300) || !(renewEveryMs >= 50) || renewEveryMs * 2 > ttlMs) {
    throw new InvalidArgumentError(`leader lock: need ttl ≥ 300 ms and renewEvery ≤ ttl/2 (got ttl ${ttlMs}, renewEvery ${renewEveryMs})`)
  }
  const now = init.now ?? Date.now
  const token = `${init.name ?? `${hostname()}:${process.pid}`}:${randomBytes(8).toString('hex')}`
  const stopController = new AbortController()
  let leading: AbortController | undefined
  let lastRenewed = 0

  const demote = (reason: string): void => {
    if (leading === undefined) return
    const was = leading
    leading = undefined
    init.logger?.warn({ key, reason }, 'lost scheduler leadership')
    was.abort(new NotLeaderError(`Leadership lost: ${reason}`))
    init.onDemoted?.(reason)
  }

  // A Redis call of a round never outlasts the round: a hung call must not delay demotion.
  const bounded = async <T>(call: Promise<T>): Promise<T> => {
    const deadline = deadlineSignal(undefined, renewEveryMs)
    try { return await raceSignal(call, deadline.signal) } finally { deadline.clear() }
  }

  const round = async (): Promise<void> => {
    if (leading !== undefined) {
      try {
        const renewed = await bounded(init.redis.eval(RENEW_SCRIPT, 1, key, token, String(ttlMs)))
        if (renewed === 1) { lastRenewed = now(); return }
        demote('the lock is held by another process')
      } catch (err) {
        // Keep leading while the lock cannot have expired yet; give up before it can.
        if (now() - lastRenewed >= ttlMs - renewEveryMs) demote(`could not renew: ${errorMessage(err)}`)
      }
      return
    }
    try {
      const acquiredAt = now()
      // A SET that timed out on our side may still have succeeded on the server: a lock holding our
      // token is ours; the renew script adopts it (and only it) with a full ttl.
      const ok = await bounded(init.redis.set(key, token, 'PX', ttlMs, 'NX')) === 'OK' ||
        await bounded(init.redis.eval(RENEW_SCRIPT, 1, key, token, String(ttlMs))) === 1
      if (ok && !stopController.signal.aborted) {
        lastRenewed = acquiredAt
        leading = new AbortController()
        init.logger?.info({ key }, 'elected scheduler leader')
        init.onElected?.(leading.signal)
      } else if (!ok) {
        init.onStandby?.()
      }
    } catch (err) {
      init.logger?.debug({ key, err: errorMessage(err) }, 'leader lock: acquire failed')
    }
  }

  const loop = (async () => {
    while (!stopController.signal.aborted) {
      await round()
      await sleep(renewEveryMs, { signal: stopController.signal }).catch(() => {})
    }
  })()

  return {
    token,
    isLeader: () => leading !== undefined,
    assertLeader: async (options: AbortOptions = {}) => {
      if (leading === undefined) throw new NotLeaderError('Not the scheduler leader')
      const holder = await raceSignal(init.redis.get(key), options.signal)
      if (holder !== token) {
        demote('the lock is held by another process')
        throw new NotLeaderError('Not the scheduler leader')
      }
    },
    stop: async () => {
      stopController.abort()
      await loop
      if (leading !== undefined) {
        const was = leading
        leading = undefined
        was.abort(new NotLeaderError('Stopped'))
        await init.redis.eval(RELEASE_SCRIPT, 1, key, token).catch(() => {})
      }
    }
  }
}

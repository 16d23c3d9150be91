import { minute, second } from '../core/constants.js'
import type { KeepalivePolicy } from './payloads.js'

/**
 * The scheduler's default periods and keepalive policy, in a module of their own so the CLI can
 * show them as option defaults without loading the scheduler (and with it BullMQ and ioredis).
 * scheduler.ts re-exports them.
 */
export const DEFAULT_KEEPALIVE_EVERY_MS = 30 * second
export const DEFAULT_AUDIT_EVERY_MS = 60 * minute
export const DEFAULT_CHECK_EVERY_MS = 5 * minute
export const DEFAULT_KEEPALIVE_POLICY: Readonly<KeepalivePolicy> = Object.freeze({ missesToOffline: 3, graceMs: 10 * minute, pingTimeoutMs: 10 * second })

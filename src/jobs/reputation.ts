import { InvalidArgumentError } from '../core/errors.js'

/**
 * Per-node audit reputation: a Beta-distribution estimate of "this node answers audits correctly",
 * as Storj's audit reputation does. Pure: no Redis, no clock.
 *
 * After every audit of one of its pieces:
 *   alpha ← λ·alpha + w·(1+v)/2
 *   beta  ← λ·beta  + w·(1−v)/2        v = +1 (passed) or −1 (failed)
 * score = alpha / (alpha + beta). λ < 1 forgets old results geometrically (an observation k audits
 * ago weighs λ^k), so a node that went bad cannot live on an old good record, and one that was
 * repaired can earn its way back. With λ = 0.95 the counts converge to at most w/(1−λ) = 20, so a
 * long-trusted node (score 0.95^k after k failures in a row) falls under 0.6 after 10; a new node (alpha 1, beta 0)
 * after one failure scores 0.49 and must pass a few audits before it is trusted again.
 *
 * A node under the threshold gets no new pieces, and its pieces count as unhealthy (repaired).
 */
export interface Reputation {
  alpha: number
  beta: number
}

export interface ReputationPolicy {
  /** Forgetting factor λ in (0, 1]; 1 never forgets. @defaultValue 0.95 */
  lambda: number
  /** Weight w of one audit. @defaultValue 1 */
  weight: number
  /** Trusted while score ≥ threshold. @defaultValue 0.6 */
  threshold: number
  /** Prior of a node never audited. @defaultValue { alpha: 1, beta: 0 } (trusted until shown otherwise) */
  initial: Reputation
}

export const DEFAULT_REPUTATION_POLICY: Readonly<ReputationPolicy> = Object.freeze({
  lambda: 0.95,
  weight: 1,
  threshold: 0.6,
  initial: Object.freeze({ alpha: 1, beta: 0 })
})

/** Fills in defaults and checks ranges (a bad policy is a configuration error, not data). */
export function reputationPolicy (overrides: Partial<ReputationPolicy> = {}): ReputationPolicy {
  const policy = { ...DEFAULT_REPUTATION_POLICY, ...overrides }
  if (!(policy.lambda > 0 && policy.lambda <= 1)) throw new InvalidArgumentError(`reputation lambda must be in (0, 1], got ${policy.lambda}`)
  if (!(policy.weight > 0 && Number.isFinite(policy.weight))) throw new InvalidArgumentError(`reputation weight must be positive, got ${policy.weight}`)
  if (!(policy.threshold >= 0 && policy.threshold <= 1)) throw new InvalidArgumentError(`reputation threshold must be in [0, 1], got ${policy.threshold}`)
  const { alpha, beta } = policy.initial
  if (!(alpha >= 0 && beta >= 0 && alpha + beta > 0 && Number.isFinite(alpha + beta))) throw new InvalidArgumentError('reputation prior needs alpha, beta ≥ 0 and alpha + beta > 0')
  return { ...policy, initial: { alpha, beta } }
}

/** The reputation after one audit outcome. */
export function recordAudit (rep: Reputation, passed: boolean, policy: ReputationPolicy = DEFAULT_REPUTATION_POLICY): Reputation {
  const v = passed ? 1 : -1
  return {
    alpha: policy.lambda * rep.alpha + policy.weight * (1 + v) / 2,
    beta: policy.lambda * rep.beta + policy.weight * (1 - v) / 2
  }
}

/** alpha / (alpha + beta), in [0, 1]; a degenerate record (both 0) scores as the prior would not: 0. */
export function reputationScore (rep: Reputation): number {
  const total = rep.alpha + rep.beta
  return total > 0 ? rep.alpha / total : 0
}

export function isTrusted (rep: Reputation, policy: Pick<ReputationPolicy, 'threshold'> = DEFAULT_REPUTATION_POLICY): boolean {
  return reputationScore(rep) >= policy.threshold
}

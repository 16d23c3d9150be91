import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { DEFAULT_REPUTATION_POLICY, isTrusted, recordAudit, reputationPolicy, reputationScore, type Reputation } from '../../../src/jobs/reputation.js'
import { InvalidArgumentError } from '../../../src/core/errors.js'

const close = (a: number, b: number, eps = 1e-9): void => { assert.ok(Math.abs(a - b) < eps, `${a} ≉ ${b}`) }

function run (rep: Reputation, outcomes: boolean[], policy = DEFAULT_REPUTATION_POLICY): Reputation {
  return outcomes.reduce((r, ok) => recordAudit(r, ok, policy), rep)
}

describe('reputation (Beta, with forgetting)', () => {
  test('one update follows alpha ← λα + w(1+v)/2, beta ← λβ + w(1−v)/2', () => {
    const p = reputationPolicy({ lambda: 0.9, weight: 2 })
    const passed = recordAudit({ alpha: 3, beta: 1 }, true, p)
    close(passed.alpha, 0.9 * 3 + 2)
    close(passed.beta, 0.9 * 1)
    const failed = recordAudit({ alpha: 3, beta: 1 }, false, p)
    close(failed.alpha, 0.9 * 3)
    close(failed.beta, 0.9 * 1 + 2)
  })

  test('score = alpha / (alpha + beta); a new node is trusted', () => {
    close(reputationScore({ alpha: 3, beta: 1 }), 0.75)
    assert.equal(reputationScore({ alpha: 0, beta: 0 }), 0)
    assert.equal(isTrusted(DEFAULT_REPUTATION_POLICY.initial), true)
  })

  test('a new node that fails its first audit falls under the default threshold', () => {
    const rep = recordAudit(DEFAULT_REPUTATION_POLICY.initial, false)
    close(reputationScore(rep), 0.95 / 1.95)
    assert.equal(isTrusted(rep), false)
  })

  test('a long-trusted node scores 0.95^k after k failures: trusted after 9, not after 10', () => {
    const trusted = run(DEFAULT_REPUTATION_POLICY.initial, Array(500).fill(true))
    close(reputationScore(trusted), 1)
    close(trusted.alpha, 20, 1e-6) // converges to w / (1 − λ)
    const after9 = run(trusted, Array(9).fill(false))
    const after10 = recordAudit(after9, false)
    close(reputationScore(after9), 0.95 ** 9, 1e-6)
    assert.equal(isTrusted(after9), true)
    assert.equal(isTrusted(after10), false)
  })

  test('forgetting lets a repaired node earn trust back; λ = 1 never forgets', () => {
    const bad = run(DEFAULT_REPUTATION_POLICY.initial, Array(20).fill(false))
    assert.equal(isTrusted(bad), false)
    const recovered = run(bad, Array(40).fill(true))
    assert.equal(isTrusted(recovered), true)
    const noForget = reputationPolicy({ lambda: 1 })
    const counts = run({ alpha: 1, beta: 0 }, [true, false, false, true], noForget)
    assert.deepEqual(counts, { alpha: 3, beta: 2 })
  })

  test('the threshold is configurable', () => {
    const rep = { alpha: 7, beta: 3 }
    assert.equal(isTrusted(rep, { threshold: 0.7 }), true)
    assert.equal(isTrusted(rep, { threshold: 0.71 }), false)
  })

  test('bad policies are refused', () => {
    assert.throws(() => reputationPolicy({ lambda: 0 }), InvalidArgumentError)
    assert.throws(() => reputationPolicy({ lambda: 1.01 }), InvalidArgumentError)
    assert.throws(() => reputationPolicy({ weight: 0 }), InvalidArgumentError)
    assert.throws(() => reputationPolicy({ threshold: 2 }), InvalidArgumentError)
    assert.throws(() => reputationPolicy({ initial: { alpha: 0, beta: 0 } }), InvalidArgumentError)
  })
})

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { applyPing, nodeRecordSchema, piecesLost, withFacts, type NodeRecord, type PingOutcome } from '../../../src/jobs/node-state.js'

const ID = 'c'.repeat(64)
const prior = { alpha: 1, beta: 0 }
const fresh = (): NodeRecord => withFacts(undefined, { nodeId: ID, piece: { host: '127.0.0.1', port: 4000 } }, 1000, prior)
const ok = (at: number): PingOutcome => ({ ok: true, at, rttMs: 1.5 })
const miss = (at: number): PingOutcome => ({ ok: false, at, error: 'BATCHAIN_ERR_PEER_UNREACHABLE' })

function play (record: NodeRecord, outcomes: PingOutcome[], policy = { missesToOffline: 3, graceMs: 60_000 }): { record: NodeRecord, transitions: Array<string | undefined> } {
  const transitions: Array<string | undefined> = []
  for (const o of outcomes) {
    const r = applyPing(record, o, policy)
    record = r.record
    transitions.push(r.transition)
  }
  return { record, transitions }
}

describe('node state transitions', () => {
  test('a registered node is unknown until it answers; records validate', () => {
    const r = fresh()
    assert.equal(r.state, 'unknown')
    assert.equal(r.missed, 0)
    assert.equal(nodeRecordSchema.safeParse(r).success, true)
    const { record, transitions } = play(r, [ok(2000)])
    assert.equal(record.state, 'online')
    assert.deepEqual(transitions, ['online'])
    assert.equal(record.lastSeen, 2000)
    assert.equal(nodeRecordSchema.safeParse(record).success, true)
  })

  test('N misses in a row make a node offline; an answer in between resets the count', () => {
    const online = play(fresh(), [ok(1)]).record
    const a = play(online, [miss(2), miss(3), ok(4), miss(5), miss(6)])
    assert.equal(a.record.state, 'online')
    assert.equal(a.record.missed, 2)
    const b = play(online, [miss(2), miss(3), miss(4)])
    assert.equal(b.record.state, 'offline')
    assert.equal(b.record.offlineSince, 4)
    assert.deepEqual(b.transitions, [undefined, undefined, 'offline'])
    assert.equal(b.record.lastError, 'BATCHAIN_ERR_PEER_UNREACHABLE')
  })

  test('after the grace period an offline node is lost; with grace 0 at once', () => {
    const online = play(fresh(), [ok(0)]).record
    const p = { missesToOffline: 2, graceMs: 1000 }
    const r = play(online, [miss(100), miss(200), miss(700), miss(1200)], p)
    assert.deepEqual(r.transitions, [undefined, 'offline', undefined, 'lost'])
    assert.equal(r.record.lostSince, 1200)
    assert.equal(piecesLost(play(online, [miss(100), miss(200)], p).record, 1199, 1000), false)
    assert.equal(piecesLost(play(online, [miss(100), miss(200)], p).record, 1200, 1000), true, 'lost between pings once the grace elapsed')
    const zero = play(online, [miss(1), miss(2)], { missesToOffline: 2, graceMs: 0 })
    assert.equal(zero.record.state, 'lost')
    assert.deepEqual(zero.transitions, [undefined, 'lost'])
    assert.equal(piecesLost(zero.record, 2, 0), true)
  })

  test('a node that never answered also goes offline after N misses', () => {
    const r = play(fresh(), [miss(1), miss(2), miss(3)])
    assert.equal(r.record.state, 'offline')
  })

  test('a returning node is online again, with misses and offline times cleared', () => {
    const lost = play(play(fresh(), [ok(0)]).record, [miss(1), miss(2)], { missesToOffline: 2, graceMs: 0 }).record
    const back = applyPing(lost, ok(10), { missesToOffline: 2, graceMs: 0 })
    assert.equal(back.transition, 'returned')
    assert.equal(back.record.state, 'online')
    assert.equal(back.record.missed, 0)
    assert.equal(back.record.offlineSince, undefined)
    assert.equal(back.record.lostSince, undefined)
    assert.equal(back.record.lastError, undefined)
    assert.equal(piecesLost(back.record, 10_000, 0), false)
  })

  test('lost stays lost while it misses; misses keep counting', () => {
    const lost = play(fresh(), [miss(1), miss(2), miss(3)], { missesToOffline: 3, graceMs: 0 }).record
    const r = play(lost, [miss(4), miss(5)], { missesToOffline: 3, graceMs: 0 })
    assert.equal(r.record.state, 'lost')
    assert.equal(r.record.missed, 5)
    assert.equal(r.record.lostSince, 3)
    assert.deepEqual(r.transitions, [undefined, undefined])
  })

  test('new facts update the contact and keep state and reputation', () => {
    const offline = { ...play(fresh(), [miss(1), miss(2), miss(3)]).record, alpha: 5, beta: 2 }
    const moved = withFacts(offline, { nodeId: ID, piece: { host: '127.0.0.2', port: 5000 }, zone: 'z1', capacity: 10, free: 5 }, 99, prior)
    assert.deepEqual(moved.piece, { host: '127.0.0.2', port: 5000 })
    assert.equal(moved.state, 'offline')
    assert.equal(moved.alpha, 5)
    assert.equal(moved.zone, 'z1')
    assert.equal(moved.registeredAt, 1000)
  })
})

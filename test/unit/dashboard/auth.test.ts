import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { SESSION_COOKIE, SESSION_TTL_MS, authenticate, bearerToken, checkToken, parseCookies, safeNext, sameOrigin, secretsEqual, sessionValid, sessionValue } from '../../../src/dashboard/auth.js'

const TOKEN = 'correct-horse-battery-staple'
const NOW = 1_800_000_000_000

describe('dashboard auth: token checks', () => {
  test('secretsEqual: equal only for the same string, whatever the lengths', () => {
    assert.equal(secretsEqual(TOKEN, TOKEN), true)
    assert.equal(secretsEqual(TOKEN + 'x', TOKEN), false)
    assert.equal(secretsEqual(TOKEN.slice(0, -1), TOKEN), false)
    assert.equal(secretsEqual('', TOKEN), false)
    assert.equal(secretsEqual(TOKEN.toUpperCase(), TOKEN), false)
  })

  test('weak tokens are refused at start', () => {
    assert.throws(() => { checkToken('short') }, { code: 'BATCHAIN_ERR_INVALID_ARGUMENT' })
    assert.throws(() => { checkToken('has a space in it, long enough') }, { code: 'BATCHAIN_ERR_INVALID_ARGUMENT' })
    checkToken(TOKEN)
  })

  test('bearer header parsing', () => {
    assert.equal(bearerToken(`Bearer ${TOKEN}`), TOKEN)
    assert.equal(bearerToken(`bearer ${TOKEN}`), TOKEN)
    assert.equal(bearerToken(`Basic ${TOKEN}`), undefined)
    assert.equal(bearerToken('Bearer'), undefined)
    assert.equal(bearerToken('Bearer a b'), undefined)
    assert.equal(bearerToken(undefined), undefined)
  })

  test('without a configured token nobody may act, whatever they send', () => {
    assert.deepEqual(authenticate({ authorization: `Bearer ${TOKEN}` }, undefined, NOW), { ok: false, reason: 'read-only' })
    assert.deepEqual(authenticate({}, undefined, NOW), { ok: false, reason: 'read-only' })
  })

  test('with a token: the right bearer passes, a wrong or missing one does not', () => {
    assert.deepEqual(authenticate({ authorization: `Bearer ${TOKEN}` }, TOKEN, NOW), { ok: true, via: 'bearer' })
    assert.deepEqual(authenticate({ authorization: 'Bearer wrong-token-wrong-token' }, TOKEN, NOW), { ok: false, reason: 'unauthorized' })
    assert.deepEqual(authenticate({}, TOKEN, NOW), { ok: false, reason: 'unauthorized' })
  })

  test('a wrong bearer is refused even with a valid session cookie alongside', () => {
    const cookie = `${SESSION_COOKIE}=${sessionValue(TOKEN, NOW)}`
    assert.deepEqual(authenticate({ cookie }, TOKEN, NOW), { ok: true, via: 'cookie' })
    assert.deepEqual(authenticate({ cookie, authorization: 'Bearer nope-nope-nope-nope' }, TOKEN, NOW), { ok: false, reason: 'unauthorized' })
  })
})

describe('dashboard auth: session cookie', () => {
  test('holds no token, verifies until it expires, and dies with a token change', () => {
    const value = sessionValue(TOKEN, NOW)
    assert.ok(!value.includes(TOKEN))
    assert.match(value, /^\d+\.[A-Za-z0-9_-]{43}$/)
    assert.equal(sessionValid(value, TOKEN, NOW), true)
    assert.equal(sessionValid(value, TOKEN, NOW + SESSION_TTL_MS - 1), true)
    assert.equal(sessionValid(value, TOKEN, NOW + SESSION_TTL_MS), false)
    assert.equal(sessionValid(value, 'another-token-entirely', NOW), false)
  })

  test('a forged expiry or MAC is refused; junk is refused', () => {
    const value = sessionValue(TOKEN, NOW)
    const [expiry, mac] = value.split('.') as [string, string]
    assert.equal(sessionValid(`${Number(expiry) + 1_000_000}.${mac}`, TOKEN, NOW), false)
    assert.equal(sessionValid(`${expiry}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`, TOKEN, NOW), false)
    for (const junk of [undefined, '', '.', 'abc', `${expiry}.`, `x.${mac}`, `${expiry}.${mac}.x`]) assert.equal(sessionValid(junk, TOKEN, NOW), false, String(junk))
  })

  test('cookie header parsing: first value wins, odd parts are skipped', () => {
    assert.deepEqual(parseCookies('a=1; b=two%20words; a=3; junk; =x; c='), { a: '1', b: 'two words', c: '' })
    assert.deepEqual(parseCookies(undefined), {})
    assert.deepEqual(parseCookies('bad=%E0%A4%A'), { bad: '%E0%A4%A' })
  })
})

describe('dashboard auth: origins and redirects', () => {
  test('same-origin check for cookie-authorised actions', () => {
    assert.equal(sameOrigin({ host: '127.0.0.1:8080' }), true, 'no Origin or Referer: not a browser form from elsewhere')
    assert.equal(sameOrigin({ host: '127.0.0.1:8080', origin: 'http://127.0.0.1:8080' }), true)
    assert.equal(sameOrigin({ host: '127.0.0.1:8080', origin: 'http://evil.example' }), false)
    assert.equal(sameOrigin({ host: '127.0.0.1:8080', origin: 'null' }), false)
    assert.equal(sameOrigin({ host: '127.0.0.1:8080', referer: 'http://127.0.0.1:8080/files' }), true)
    assert.equal(sameOrigin({ host: '127.0.0.1:8080', referer: 'http://127.0.0.1:9090/files' }), false)
    assert.equal(sameOrigin({ origin: 'http://127.0.0.1:8080' }), false)
  })

  test('only local paths are followed after login', () => {
    assert.equal(safeNext('/files/abc'), '/files/abc')
    for (const bad of ['//evil.example/', 'http://evil.example/', '/\\evil.example', 'files', '', undefined, 42, ['/a'], '/a\nb']) assert.equal(safeNext(bad), '/', String(bad))
  })
})

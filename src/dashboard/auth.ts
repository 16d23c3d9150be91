import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { hour } from '../core/constants.js'
import { InvalidArgumentError } from '../core/errors.js'

/**
 * Who may act: without a token the dashboard is read-only for everyone; with one, job actions
 * (bull-board's buttons, audit and repair requests) need it, either as `Authorization: Bearer
 * TOKEN` or as the session cookie the login form sets.
 *
 * The cookie never holds the token: it is `<expiry ms>.<HMAC-SHA256(token, "session:" + expiry)>`,
 * so it is checked without server-side state (a restart keeps sessions), expires by itself, and
 * every session ends when the token changes. Comparisons hash both sides and compare the digests
 * in constant time, so neither the content nor the length of the token leaks through timing.
 */

export const SESSION_COOKIE = 'batchain_dashboard_session'
/** How long a login lasts. */
export const SESSION_TTL_MS = 12 * hour
/** Shorter tokens are refused at start (they could be guessed). */
export const MIN_TOKEN_LENGTH = 16

/** Throws when a configured token is too weak to guard job actions. */
export function checkToken (token: string): void {
  if (token.length < MIN_TOKEN_LENGTH) throw new InvalidArgumentError(`The dashboard token must be at least ${MIN_TOKEN_LENGTH} characters`)
  if (/[\s\0]/.test(token)) throw new InvalidArgumentError('The dashboard token must not contain whitespace')
}

function digest (text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

/** Constant-time equality of two secrets (any lengths). */
export function secretsEqual (given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected))
}

/** The token of an `Authorization: Bearer TOKEN` header, if that is what it is. */
export function bearerToken (header: string | undefined): string | undefined {
  const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header ?? '')
  return match?.[1]
}

function sessionMac (token: string, expiresAt: number): string {
  return createHmac('sha256', token).update(`session:${expiresAt}`).digest('base64url')
}

/** A session cookie value valid until now + ttlMs. */
export function sessionValue (token: string, now: number, ttlMs = SESSION_TTL_MS): string {
  const expiresAt = now + ttlMs
  return `${expiresAt}.${sessionMac(token, expiresAt)}`
}

export function sessionValid (value: string | undefined, token: string, now: number): boolean {
  const match = /^(\d{1,16})\.([A-Za-z0-9_-]{43})$/.exec(value ?? '')
  if (match === null) return false
  const expiresAt = Number(match[1])
  if (!(expiresAt > now)) return false
  return secretsEqual(match[2] as string, sessionMac(token, expiresAt))
}

/** Cookie header → name → value (first one wins; values are not decoded beyond %XX). */
export function parseCookies (header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq <= 0) continue
    const name = part.slice(0, eq).trim()
    if (name === '' || Object.hasOwn(out, name)) continue
    let value = part.slice(eq + 1).trim()
    try { value = decodeURIComponent(value) } catch { /* keep it as sent */ }
    out[name] = value
  }
  return out
}

export type AuthResult =
  /** No token configured: nobody may act. */
  | { ok: false, reason: 'read-only' }
  /** A token is configured and the request carries none, or a wrong one. */
  | { ok: false, reason: 'unauthorized' }
  | { ok: true, via: 'bearer' | 'cookie' }

export interface RequestCredentials {
  authorization?: string
  cookie?: string
}

/** Whether a request may act. A wrong bearer token is refused even when a valid cookie is there too. */
export function authenticate (headers: RequestCredentials, token: string | undefined, now: number): AuthResult {
  if (token === undefined) return { ok: false, reason: 'read-only' }
  if (headers.authorization !== undefined) {
    const given = bearerToken(headers.authorization)
    return given !== undefined && secretsEqual(given, token) ? { ok: true, via: 'bearer' } : { ok: false, reason: 'unauthorized' }
  }
  return sessionValid(parseCookies(headers.cookie)[SESSION_COOKIE], token, now) ? { ok: true, via: 'cookie' } : { ok: false, reason: 'unauthorized' }
}

/**
 * A cookie-authenticated action must come from one of our own pages: browsers attach cookies to
 * cross-site form posts, so a request whose Origin (or, without one, Referer) names another host
 * is refused. SameSite=Strict on the cookie already stops most of them; this covers old browsers.
 */
export function sameOrigin (headers: { origin?: string, referer?: string, host?: string }): boolean {
  const from = headers.origin ?? headers.referer
  if (from === undefined) return true
  if (headers.host === undefined) return false
  try {
    return new URL(from).host === headers.host
  } catch {
    return false
  }
}

/** Where to go after logging in: only a local path (no scheme, no host, no `//`). */
export function safeNext (next: unknown): string {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.includes('\\') || [...next].some(c => c.charCodeAt(0) < 0x20 || c === '\x7f')) return '/'
  return next.slice(0, 512)
}

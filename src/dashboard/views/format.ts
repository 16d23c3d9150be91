import { formatSize } from '../../core/size.js'

/** Short human forms of the numbers on the pages (pure; the clock is passed in). */

export function bytes (n: number | undefined): string {
  return n === undefined ? 'unknown' : formatSize(n)
}

/** "4 s ago", "12 min ago", "3 h ago", "2 d ago"; "just now" under a second; "in the future" when the clocks disagree. */
export function ago (at: number | undefined, now: number): string {
  if (at === undefined) return 'never'
  const ms = now - at
  if (ms < -5000) return 'in the future'
  if (ms < 1000) return 'just now'
  const s = Math.floor(ms / 1000)
  if (s < 120) return `${s} s ago`
  const min = Math.floor(s / 60)
  if (min < 120) return `${min} min ago`
  const h = Math.floor(min / 60)
  if (h < 48) return `${h} h ago`
  return `${Math.floor(h / 24)} d ago`
}

/** ISO time in UTC, for title attributes next to ago(). */
export function isoTime (at: number | undefined): string {
  return at === undefined ? '' : new Date(at).toISOString()
}

/** 0.734 → "73%"; clamped to [0, 100]. */
export function percent (fraction: number): string {
  return `${Math.round(Math.min(1, Math.max(0, fraction)) * 100)}%`
}

/** A width for a CSS bar, in percent with one decimal, clamped. */
export function barWidth (fraction: number): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0
  return `${Math.round(f * 1000) / 10}%`
}

export function milliseconds (ms: number | undefined): string {
  if (ms === undefined) return '–'
  return ms < 10 ? `${ms.toFixed(2)} ms` : `${Math.round(ms)} ms`
}

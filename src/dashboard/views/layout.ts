import { html, raw, type SafeHtml } from './html.js'
import { isoTime } from './format.js'

/** What every page needs to know about the request and the dashboard. */
export interface PageContext {
  /** Request path, for the active tab and the login form's way back. */
  path: string
  now: number
  /** Seconds between automatic reloads; 0: none. */
  refreshSeconds: number
  /** A token is configured (job actions are possible). */
  tokenConfigured: boolean
  /** This request carries the token (or a valid session). */
  authenticated: boolean
}

/**
 * One small stylesheet for every page, inline (nothing is loaded from anywhere else). Colours:
 * green good/online, amber offline/degraded, red bad/lost/unrecoverable, purple untrusted, grey
 * unknown/missing.
 */
const STYLE = raw(`
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa;--card:#fff;--good:#1a7f37;--warn:#9a6700;--bad:#cf222e;--lost:#bc4c00;--untrusted:#8250df;--unknown:#818b98;--accent:#0969da}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;align-items:center;gap:18px;padding:10px 20px;background:#24292f;color:#fff}
header .brand{font-weight:700;font-size:16px;letter-spacing:.02em}
header nav{display:flex;gap:4px;flex:1}
header nav a{color:#d1d9e0;text-decoration:none;padding:5px 10px;border-radius:6px}
header nav a:hover{background:#32383f;color:#fff}
header nav a.active{background:#0969da;color:#fff}
header .who{font-size:12px;color:#d1d9e0;display:flex;gap:8px;align-items:center}
header .who a,header .who button{color:#fff;background:none;border:1px solid #57606a;border-radius:6px;padding:3px 8px;font:inherit;cursor:pointer;text-decoration:none}
main{padding:18px 20px;max-width:1400px}
h1{font-size:20px;margin:0 0 12px}
h2{font-size:16px;margin:22px 0 8px}
a{color:var(--accent)}
.muted{color:var(--muted)}
.mono,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 14px;min-width:150px}
.card .n{font-size:22px;font-weight:650}
.card .l{color:var(--muted);font-size:12px}
table{border-collapse:collapse;width:100%;background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:middle}
th{background:#f0f3f6;font-size:12px;color:var(--muted);font-weight:600;white-space:nowrap}
tr:last-child td{border-bottom:0}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;color:#fff;white-space:nowrap}
.b-online,.b-healthy,.b-passed{background:var(--good)}
.b-offline,.b-degraded{background:var(--warn)}
.b-lost,.b-unrecoverable,.b-failed{background:var(--bad)}
.b-unknown,.b-unchecked{background:var(--unknown)}
.b-untrusted{background:var(--untrusted)}
.bar{position:relative;height:10px;width:160px;background:#eaeef2;border-radius:5px;overflow:hidden;display:inline-block;vertical-align:middle}
.bar>span{position:absolute;left:0;top:0;bottom:0;background:var(--accent)}
.bar.rep>span{background:var(--good)}
.bar.rep.low>span{background:var(--untrusted)}
.bar.health>span{background:var(--good)}
.bar.health.degraded>span{background:var(--warn)}
.bar.health.unrecoverable>span{background:var(--bad)}
.bar .mark{position:absolute;top:-2px;bottom:-2px;width:2px;background:#24292f}
.bar.unknown{background:repeating-linear-gradient(45deg,#eaeef2,#eaeef2 4px,#d8dee4 4px,#d8dee4 8px)}
.barlabel{font-size:12px;color:var(--muted);margin-left:6px}
.notice{padding:10px 14px;border-radius:8px;margin-bottom:14px;border:1px solid}
.notice.error{background:#ffebe9;border-color:#ff8182;color:#82071e}
.notice.ok{background:#dafbe1;border-color:#4ac26b;color:#116329}
.notice.info{background:#ddf4ff;border-color:#54aeff;color:#0a3069}
.grid{display:flex;flex-wrap:wrap;gap:3px;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px}
.seg{display:flex;flex-direction:column;gap:2px;padding:2px;border-radius:3px;border:1px solid transparent}
.seg.degraded{border-color:var(--bad)}
.seg .idx{font-size:10px;color:var(--muted);text-align:center;line-height:1.1}
.seg hr{border:0;border-top:1px dashed #8c959f;margin:1px 0;width:100%}
.p{width:var(--cell,14px);height:var(--cell,14px);border-radius:2px}
.p-g{background:#2da44e}.p-b{background:#cf222e}.p-u{background:#8250df}.p-l{background:#e16f24}.p-m{background:#fff;border:1px dashed #8c959f}.p-x{background:#d0d7de}
.legend{display:flex;flex-wrap:wrap;gap:14px;margin:8px 0;font-size:12px;color:var(--muted)}
.legend span{display:inline-flex;align-items:center;gap:5px}
.actions{display:flex;gap:8px;margin:10px 0}
.actions button,form.login button{background:#1f883d;color:#fff;border:0;border-radius:6px;padding:6px 14px;font:inherit;font-weight:600;cursor:pointer}
.actions button.secondary{background:#0969da}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px;margin:0}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0}
form.login{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px;max-width:420px;display:flex;flex-direction:column;gap:10px}
form.login input{font:inherit;padding:6px 8px;border:1px solid var(--line);border-radius:6px}
footer{padding:10px 20px;color:var(--muted);font-size:12px}
`)

const TABS: Array<{ href: string, label: string, match: (path: string) => boolean }> = [
  { href: '/', label: 'Network', match: p => p === '/' || p === '/network' },
  { href: '/files', label: 'Files', match: p => p === '/files' || p.startsWith('/files/') },
  { href: '/jobs', label: 'Jobs', match: p => p.startsWith('/jobs') }
]

/** A whole page: head with the stylesheet (and a meta refresh when asked), header, body. */
export function page (ctx: PageContext, title: string, body: SafeHtml, options: { refresh?: boolean } = {}): string {
  const refresh = (options.refresh ?? true) && ctx.refreshSeconds > 0
  const who = !ctx.tokenConfigured
    ? html`<span class="badge b-unknown" title="Start the dashboard with a token to allow job actions">read-only</span>`
    : ctx.authenticated
      ? html`<span>signed in</span><form method="post" action="/logout" style="margin:0"><button type="submit">Log out</button></form>`
      : html`<a href="${`/login?next=${encodeURIComponent(ctx.path)}`}">Log in</a>`
  return '<!doctype html>\n' + html`<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${refresh ? html`<meta http-equiv="refresh" content="${ctx.refreshSeconds}">` : ''}
<title>${title} · BatChain</title>
<style>${STYLE}</style></head>
<body><header><span class="brand">BatChain</span><nav>${TABS.map(t => html`<a href="${t.href}" class="${t.match(ctx.path) ? 'active' : ''}">${t.label}</a>`)}</nav><span class="who">${who}</span></header>
<main>${body}</main>
<footer>Rendered ${isoTime(ctx.now)}${refresh ? html` · reloads every ${ctx.refreshSeconds} s` : ''} · <a href="/api/summary">JSON</a> · <a href="/metrics">metrics</a></footer>
</body></html>`.value
}

/** The page shown instead when Redis cannot be read (served as 503; it keeps reloading until Redis is back). */
export function unavailablePage (ctx: PageContext, title: string, message: string): string {
  return page({ ...ctx, refreshSeconds: ctx.refreshSeconds > 0 ? Math.min(ctx.refreshSeconds, 5) : 5 }, title, html`<h1>${title}</h1>
<div class="notice error" role="alert"><strong>Redis is unavailable.</strong> ${message}<br>This page reloads by itself and shows the data again once Redis answers.</div>`)
}

export function notFoundPage (ctx: PageContext, message: string): string {
  return page(ctx, 'Not found', html`<h1>Not found</h1><div class="notice info">${message}</div><p><a href="/">Network</a> · <a href="/files">Files</a></p>`, { refresh: false })
}

/** Any other refusal or failure, as a page (503s keep reloading). */
export function errorPage (ctx: PageContext, status: number, message: string): string {
  return page(ctx, `Error ${status}`, html`<h1>Error ${status}</h1><div class="notice error" role="alert">${message}</div>`, { refresh: status === 503 })
}

import { html } from './html.js'
import { page, type PageContext } from './layout.js'

/** The login form: one password field for the dashboard token. */
export function loginPage (ctx: PageContext, next: string, error?: string): string {
  const body = !ctx.tokenConfigured
    ? html`<h1>Log in</h1><div class="notice info">This dashboard has no token configured, so it is read-only for everyone. Start it with <code>--token</code> (or <code>BATCHAIN_DASHBOARD_TOKEN</code>) to allow job actions.</div>`
    : html`<h1>Log in</h1>
${error === undefined ? '' : html`<div class="notice error" role="alert">${error}</div>`}
<form class="login" method="post" action="/login">
  <label for="token">Dashboard token</label>
  <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
  <input type="hidden" name="next" value="${next}">
  <button type="submit">Log in</button>
  <span class="muted">Scripts send <code>Authorization: Bearer TOKEN</code> instead.</span>
</form>`
  return page(ctx, 'Log in', body, { refresh: false })
}

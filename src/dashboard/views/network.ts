import type { NodeView, SummaryView } from '../models.js'
import { shortId } from '../models.js'
import { ago, barWidth, bytes, isoTime, milliseconds, percent } from './format.js'
import { html, type SafeHtml } from './html.js'
import { page, type PageContext } from './layout.js'

/** The network page: summary cards, then one row per node with its state, capacity and reputation. */
export function networkPage (ctx: PageContext, summary: SummaryView, nodes: readonly NodeView[]): string {
  const s = summary
  const body = html`<h1>Network</h1>
<div class="cards">
  ${card(s.nodes.total, 'nodes', `${s.nodes.byState.online} online`)}
  ${card(s.nodes.byState.offline, 'offline', 'missed pings', s.nodes.byState.offline > 0 ? 'offline' : undefined)}
  ${card(s.nodes.byState.lost, 'lost', 'offline past the grace period', s.nodes.byState.lost > 0 ? 'lost' : undefined)}
  ${card(s.nodes.total - s.nodes.trusted, 'untrusted', `reputation under ${s.threshold}`, s.nodes.total - s.nodes.trusted > 0 ? 'untrusted' : undefined)}
  ${card(bytes(s.nodes.free), 'free', s.nodes.unknownCapacity > 0 ? `of ${bytes(s.nodes.capacity)}; ${s.nodes.unknownCapacity} node(s) unknown` : `of ${bytes(s.nodes.capacity)}`)}
  ${card(s.files.total, 'files', `${s.files.segmentsDegraded} degraded segment(s)`, s.files.segmentsDegraded > 0 ? 'degraded' : undefined)}
</div>
${nodes.length === 0
  ? html`<div class="notice info">No nodes are registered yet. The scheduler registers its seed nodes (<code>batchain scheduler --nodes …</code>) and keepalive finds more through the DHT.</div>`
  : html`<table id="nodes">
<thead><tr><th>State</th><th>Node</th><th>Address</th><th>Zone</th><th>Capacity (used / total)</th><th>Reputation</th><th class="num">Pieces</th><th>Last seen</th><th class="num">RTT</th><th class="num">Audits</th></tr></thead>
<tbody>${nodes.map(n => nodeRow(ctx, n, s.threshold))}</tbody></table>`}`
  return page(ctx, 'Network', body)
}

function card (value: number | string, label: string, note: string, tone?: string): SafeHtml {
  return html`<div class="card"><div class="n">${tone === undefined ? value : html`<span class="badge b-${tone}" style="font-size:18px">${value}</span>`}</div><div class="l">${label} · ${note}</div></div>`
}

function nodeRow (ctx: PageContext, n: NodeView, threshold: number): SafeHtml {
  const stateTitle = n.state === 'offline' ? `offline since ${isoTime(n.offlineSince)}; ${n.missed} missed ping(s)${n.lastError === undefined ? '' : `; ${n.lastError}`}`
    : n.state === 'lost' ? `lost since ${isoTime(n.lostSince)}${n.lastError === undefined ? '' : `; ${n.lastError}`}`
      : n.state === 'unknown' ? 'registered, not pinged yet' : `answering pings; registered ${isoTime(n.registeredAt)}`
  return html`<tr data-node="${n.nodeId}" data-state="${n.state}">
<td><span class="badge b-${n.state}" title="${stateTitle}">${n.state}</span></td>
<td class="mono" title="${n.nodeId}">${shortId(n.nodeId)}</td>
<td class="mono">${n.piece.host}:${n.piece.port}</td>
<td>${n.zone ?? html`<span class="muted">–</span>`}</td>
<td>${capacityBar(n)}</td>
<td>${reputationBar(n, threshold)}</td>
<td class="num">${n.pieces}</td>
<td title="${isoTime(n.lastSeen)}">${ago(n.lastSeen, ctx.now)}</td>
<td class="num">${milliseconds(n.rttMs)}</td>
<td class="num" title="${n.auditFailures} failed of ${n.audits}">${n.audits}${n.auditFailures > 0 ? html` <span class="badge b-failed">${n.auditFailures} failed</span>` : ''}</td>
</tr>`
}

function capacityBar (n: NodeView): SafeHtml {
  if (n.capacity === undefined) return html`<span class="bar unknown" title="the node has not reported its capacity"></span><span class="barlabel">unknown</span>`
  if (n.used === undefined) return html`<span class="bar unknown" title="free space not reported"></span><span class="barlabel">? / ${bytes(n.capacity)}</span>`
  const fraction = n.capacity > 0 ? n.used / n.capacity : 1
  return html`<span class="bar" title="${bytes(n.used)} used, ${bytes(n.free)} free of ${bytes(n.capacity)}"><span style="width:${barWidth(fraction)}"></span></span><span class="barlabel">${bytes(n.used)} / ${bytes(n.capacity)}</span>`
}

function reputationBar (n: NodeView, threshold: number): SafeHtml {
  return html`<span class="bar rep${n.trusted ? '' : ' low'}" title="score ${n.score.toFixed(3)} (alpha ${n.alpha.toFixed(2)}, beta ${n.beta.toFixed(2)}); trusted at ≥ ${threshold}"><span style="width:${barWidth(n.score)}"></span><span class="mark" style="left:${barWidth(threshold)}"></span></span><span class="barlabel">${percent(n.score)}</span>${n.trusted ? '' : html` <span class="badge b-untrusted">untrusted</span>`}`
}

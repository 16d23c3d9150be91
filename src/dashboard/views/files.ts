import type { AuditView, FileSummaryView, SummaryView } from '../models.js'
import { ago, barWidth, bytes, isoTime } from './format.js'
import { html, type SafeHtml } from './html.js'
import { page, type PageContext } from './layout.js'

/** The files page: one row per registered file with a health bar, its last audit and repairs. */
export function filesPage (ctx: PageContext, summary: SummaryView, files: readonly FileSummaryView[]): string {
  const f = summary.files
  const body = html`<h1>Files</h1>
<div class="cards">
  <div class="card"><div class="n">${f.total}</div><div class="l">files · ${bytes(f.storedBytes)} stored</div></div>
  <div class="card"><div class="n">${f.byStatus.healthy}</div><div class="l"><span class="badge b-healthy">healthy</span></div></div>
  <div class="card"><div class="n">${f.byStatus.degraded}</div><div class="l"><span class="badge b-degraded">degraded</span> · ${f.segmentsDegraded} segment(s)</div></div>
  <div class="card"><div class="n">${f.byStatus.unrecoverable}</div><div class="l"><span class="badge b-unrecoverable">unrecoverable</span> · fewer than k good</div></div>
  <div class="card"><div class="n">${f.byStatus.unchecked}</div><div class="l"><span class="badge b-unchecked">unchecked</span></div></div>
  <div class="card"><div class="n">${f.piecesTotal === 0 ? '–' : `${f.piecesGood} / ${f.piecesTotal}`}</div><div class="l">good pieces</div></div>
</div>
${files.length === 0
  ? html`<div class="notice info">No files are registered yet.</div>`
  : html`<table id="files">
<thead><tr><th>File</th><th>Health</th><th>Min good / total</th><th class="num">Degraded</th><th class="num">k+m</th><th class="num">Segments</th><th class="num">Stored</th><th>Last audit</th><th class="num">Repairs</th></tr></thead>
<tbody>${files.map(file => fileRow(ctx, file))}</tbody></table>`}`
  return page(ctx, 'Files', body)
}

function fileRow (ctx: PageContext, f: FileSummaryView): SafeHtml {
  return html`<tr data-file="${f.manifestId}" data-status="${f.status}">
<td><a href="/files/${f.manifestId}">${f.name}</a><div class="muted mono" title="${f.manifestId}">${f.manifestId.slice(0, 16)}…</div></td>
<td><span class="badge b-${f.status}" title="${f.health === null ? 'no health check recorded yet' : `checked ${isoTime(f.health.checkedAt)}`}">${f.status}</span></td>
<td>${healthBar(f)}</td>
<td class="num">${f.health === null ? '–' : f.health.degraded}</td>
<td class="num">${f.dataShards}+${f.parityShards}</td>
<td class="num">${f.segments}</td>
<td class="num">${bytes(f.storedBytes)}</td>
<td>${auditCell(ctx, f.lastAudit)}</td>
<td class="num">${f.repairs.count}</td>
</tr>`
}

/** Min good / k+m as a bar, with the repair threshold marked. */
export function healthBar (f: FileSummaryView): SafeHtml {
  if (f.health === null) return html`<span class="bar unknown"></span><span class="barlabel">not checked</span>`
  const h = f.health
  const tone = h.status === 'healthy' ? '' : ` ${h.status}`
  return html`<span class="bar health${tone}" title="worst segment has ${h.minGood} good of ${h.width}; repaired under ${f.repairThreshold}; ${f.dataShards} needed to read"><span style="width:${barWidth(h.minGood / h.width)}"></span><span class="mark" style="left:${barWidth(f.repairThreshold / h.width)}"></span></span><span class="barlabel">${h.minGood} / ${h.width}</span>`
}

export function auditCell (ctx: PageContext, a: AuditView | null): SafeHtml {
  if (a === null) return html`<span class="muted">never</span>`
  const result = a.passed
    ? html`<span class="badge b-passed">passed</span>`
    : html`<span class="badge b-failed">${a.failed} failed${a.missing > 0 ? `, ${a.missing} missing` : ''}</span>`
  return html`${result} <span class="muted" title="${isoTime(a.at)}">${ago(a.at, ctx.now)} · ${a.ok}/${a.challenged} ok</span>`
}

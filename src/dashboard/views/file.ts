import { PIECE_STATE_LETTERS, type PieceHealthState } from '../../jobs/file-state.js'
import { shortId, type FileDetailView, type SegmentView } from '../models.js'
import { ago, bytes, isoTime } from './format.js'
import { auditCell, healthBar } from './files.js'
import { html, type SafeHtml } from './html.js'
import { page, type PageContext } from './layout.js'

/** What a notice after an action says (only these: the query string picks one, never supplies text). */
export type FileNotice = { kind: 'queued', action: 'audit' | 'repair', jobId: string } | { kind: 'error', message: string }

const STATE_OF_LETTER = new Map<string, PieceHealthState>(Object.entries(PIECE_STATE_LETTERS).map(([state, letter]) => [letter, state as PieceHealthState]))

const LEGEND: Array<[string, string, string]> = [
  ['g', 'good', 'a trusted holder that answers'],
  ['b', 'bad', 'its holders failed an audit of it'],
  ['u', 'untrusted', 'holders under the reputation threshold'],
  ['l', 'lost', 'holders offline past the grace period'],
  ['m', 'missing', 'no holder found'],
  ['x', 'unknown', 'not recorded']
]

/** The file page: facts, actions, the segments × pieces grid, the last audit, holders and repairs. */
export function filePage (ctx: PageContext, f: FileDetailView, notice?: FileNotice): string {
  const body = html`<p class="muted"><a href="/files">Files</a> / ${f.name}</p>
<h1>${f.name} <span class="badge b-${f.status}">${f.status}</span></h1>
${notice === undefined ? '' : notice.kind === 'queued'
  ? html`<div class="notice ok" role="status">${notice.action === 'audit' ? 'Audit' : 'Repair check'} queued (job <code>${notice.jobId}</code>). The page shows its result once a worker has run it.</div>`
  : html`<div class="notice error" role="alert">${notice.message}</div>`}
${actions(ctx, f)}
<dl class="facts">
  <dt>Manifest id</dt><dd class="mono">${f.manifestId}</dd>
  <dt>Verify capability</dt><dd class="mono">${f.capability}</dd>
  ${f.owner === undefined ? '' : html`<dt>Owner</dt><dd>${f.owner}</dd>`}
  <dt>Erasure code</dt><dd>${f.dataShards}+${f.parityShards} (any ${f.dataShards} of ${f.dataShards + f.parityShards} pieces rebuild a segment; repaired under ${f.repairThreshold} good)</dd>
  <dt>Segments</dt><dd>${f.segments} · ${bytes(f.storedBytes)} stored on nodes</dd>
  <dt>Health</dt><dd>${healthBar(f)} ${f.health === null ? '' : html`<span class="muted">· ${f.health.piecesGood} / ${f.health.piecesTotal} pieces good · ${f.health.degraded} degraded segment(s) · checked <span title="${isoTime(f.health.checkedAt)}">${ago(f.health.checkedAt, ctx.now)}</span></span>`}</dd>
  <dt>Last audit</dt><dd>${auditCell(ctx, f.lastAudit)}</dd>
  <dt>Repairs</dt><dd>${f.repairs.count} · ${f.repairs.piecesRebuilt} piece(s), ${bytes(f.repairs.bytesRebuilt)} rebuilt</dd>
  <dt>Created</dt><dd>${f.createdAt} <span class="muted">(registered ${isoTime(f.registeredAt)})</span></dd>
</dl>
<h2>Segments × pieces</h2>
${grid(f)}
<h2>Last audit</h2>
${lastAudit(ctx, f)}
<h2>Holders</h2>
${f.holders.length === 0
  ? html`<p class="muted">No health check has counted holders yet.</p>`
  : html`<table id="holders"><thead><tr><th>Node</th><th class="num">Pieces of this file</th></tr></thead><tbody>${f.holders.map(h => html`<tr><td class="mono" title="${h.nodeId}">${shortId(h.nodeId)}</td><td class="num">${h.pieces}</td></tr>`)}</tbody></table>`}
<h2>Recent repairs</h2>
${f.recentRepairs.length === 0
  ? html`<p class="muted">No repairs yet.</p>`
  : html`<table id="repairs"><thead><tr><th>When</th><th class="num">Segment</th><th class="num">Rebuilt</th><th>Good before → after</th><th class="num">Seconds</th></tr></thead><tbody>${f.recentRepairs.map(r => html`<tr><td title="${isoTime(r.at)}">${ago(r.at, ctx.now)}</td><td class="num">${r.segment}</td><td class="num">${r.rebuilt}</td><td>${r.goodBefore} → ${r.goodAfter}</td><td class="num">${r.seconds.toFixed(1)}</td></tr>`)}</tbody></table>`}`
  return page(ctx, f.name, body)
}

function actions (ctx: PageContext, f: FileDetailView): SafeHtml {
  if (!ctx.tokenConfigured) return html``
  if (!ctx.authenticated) return html`<p class="muted"><a href="${`/login?next=${encodeURIComponent(`/files/${f.manifestId}`)}`}">Log in</a> to audit or repair this file.</p>`
  return html`<div class="actions">
<form method="post" action="/api/files/${f.manifestId}/audit"><button type="submit" id="audit-now">Audit now</button></form>
<form method="post" action="/api/files/${f.manifestId}/repair"><button type="submit" class="secondary" id="repair-check">Check and repair</button></form>
</div>`
}

function grid (f: FileDetailView): SafeHtml {
  if (f.segmentHealth.length === 0) return html`<div class="notice info">No health check recorded yet: the grid appears after the first check of this file.</div>`
  const width = f.dataShards + f.parityShards
  const n = f.segmentHealth.length
  // Big cells with labels for small files; a dense heat map for large ones (10 GiB ≈ 1300 segments).
  const cell = n <= 12 ? 24 : n <= 40 ? 18 : n <= 300 ? 12 : 8
  const labels = n <= 40
  return html`<div class="legend">${LEGEND.map(([letter, name, note]) => html`<span title="${note}"><i class="p p-${letter}" style="--cell:12px"></i>${name}</span>`)}<span>· data shards above the dashed line, parity below · red outline: under the repair threshold</span></div>
<div class="grid" id="segment-grid" style="--cell:${cell}px">${f.segmentHealth.map(s => segmentColumn(s, width, f.dataShards, labels))}</div>`
}

function segmentColumn (s: SegmentView, width: number, k: number, labels: boolean): SafeHtml {
  const cells: SafeHtml[] = []
  for (let shard = 0; shard < Math.max(width, s.states.length); shard++) {
    if (shard === k && k < width) cells.push(html`<hr>`)
    const letter = s.states[shard]
    const state = letter === undefined ? undefined : STATE_OF_LETTER.get(letter)
    const cls = state === undefined ? 'x' : letter
    cells.push(html`<i class="p p-${cls}" data-piece="${s.index}:${shard}" data-state="${state ?? 'unknown'}" title="segment ${s.index}, ${shard < k ? 'data' : 'parity'} shard ${shard}: ${state ?? 'unknown'}"></i>`)
  }
  return html`<div class="seg${s.degraded ? ' degraded' : ''}" data-segment="${s.index}" title="segment ${s.index}: ${s.good} of ${width} good">${labels ? html`<span class="idx">${s.index}</span>` : ''}${cells}</div>`
}

function lastAudit (ctx: PageContext, f: FileDetailView): SafeHtml {
  const a = f.lastAudit
  if (a === null) return html`<p class="muted">Never audited.</p>`
  return html`<dl class="facts" id="last-audit">
<dt>When</dt><dd title="${isoTime(a.at)}">${ago(a.at, ctx.now)} (${isoTime(a.at)})</dd>
<dt>Result</dt><dd>${a.passed ? html`<span class="badge b-passed">passed</span>` : html`<span class="badge b-failed">failed</span>`} ${a.challenged} challenged: ${a.ok} ok, ${a.failed} failed, ${a.missing} missing${a.unreachable > 0 ? `, ${a.unreachable} unreachable (no verdict)` : ''}</dd>
<dt>Failed nodes</dt><dd>${a.failedNodes.length === 0 ? html`<span class="muted">none</span>` : a.failedNodes.map((id, i) => html`${i > 0 ? ', ' : ''}<span class="mono" title="${id}">${shortId(id)}</span>`)}</dd>
<dt>Bad holders</dt><dd>${f.badPieces} piece(s) with a holder that failed an audit</dd>
</dl>`
}

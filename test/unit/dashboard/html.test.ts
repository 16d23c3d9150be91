import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { SafeHtml, escapeHtml, html, raw } from '../../../src/dashboard/views/html.js'
import { ago, barWidth, bytes, milliseconds, percent } from '../../../src/dashboard/views/format.js'

describe('dashboard html: escaping', () => {
  test('escapeHtml covers the five characters that matter in content and quoted attributes', () => {
    assert.equal(escapeHtml(`<a href="x" onclick='y'>&amp;</a>`), '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;')
    assert.equal(escapeHtml('plain text 123'), 'plain text 123')
  })

  test('every interpolated value is escaped; nested html and raw pass through', () => {
    const label = '<script>alert(1)</script>'
    const inner = html`<b>${label}</b>`
    const out = html`<td title="${'" onmouseover="x'}">${inner}${raw('<hr>')}${42}${undefined}${null}${false}</td>`
    assert.ok(out instanceof SafeHtml)
    assert.equal(out.value, '<td title="&quot; onmouseover=&quot;x"><b>&lt;script&gt;alert(1)&lt;/script&gt;</b><hr>42</td>')
  })

  test('arrays are rendered item by item, each escaped', () => {
    const out = html`<ul>${['<a>', html`<li>${'&'}</li>`, 'b']}</ul>`
    assert.equal(out.value, '<ul>&lt;a&gt;<li>&amp;</li>b</ul>')
  })

  test('a string that looks like SafeHtml is still escaped (only instances pass)', () => {
    const fake = { value: '<i>', toString: () => '<i>' }
    assert.equal(html`${fake}`.value, '&lt;i&gt;')
  })
})

describe('dashboard formatting', () => {
  test('ago: seconds, minutes, hours, days; never; clock skew', () => {
    const now = 1_000_000_000
    assert.equal(ago(undefined, now), 'never')
    assert.equal(ago(now - 500, now), 'just now')
    assert.equal(ago(now - 5_000, now), '5 s ago')
    assert.equal(ago(now - 5 * 60_000, now), '5 min ago')
    assert.equal(ago(now - 3 * 3_600_000, now), '3 h ago')
    assert.equal(ago(now - 3 * 86_400_000, now), '3 d ago')
    assert.equal(ago(now + 60_000, now), 'in the future')
  })

  test('bars and percentages are clamped; unknown sizes say so', () => {
    assert.equal(barWidth(0.5), '50%')
    assert.equal(barWidth(2), '100%')
    assert.equal(barWidth(-1), '0%')
    assert.equal(barWidth(Number.NaN), '0%')
    assert.equal(percent(0.734), '73%')
    assert.equal(bytes(undefined), 'unknown')
    assert.equal(bytes(64 * 1024 * 1024), '64 MiB')
    assert.equal(milliseconds(undefined), '–')
    assert.equal(milliseconds(1.234), '1.23 ms')
    assert.equal(milliseconds(123.4), '123 ms')
  })
})

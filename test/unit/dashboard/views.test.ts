import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { fileDetail, fileSummaries, nodeViews, summarize } from '../../../src/dashboard/models.js'
import { filePage } from '../../../src/dashboard/views/file.js'
import { filesPage } from '../../../src/dashboard/views/files.js'
import type { PageContext } from '../../../src/dashboard/views/layout.js'
import { loginPage } from '../../../src/dashboard/views/login.js'
import { networkPage } from '../../../src/dashboard/views/network.js'
import { withAudit, withFileFacts, withHealth, type FileRecord } from '../../../src/jobs/file-state.js'
import { withFacts } from '../../../src/jobs/node-state.js'
import { DEFAULT_REPUTATION_POLICY } from '../../../src/jobs/reputation.js'

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)
const EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'
const ctx: PageContext = { path: '/', now: 10_000, refreshSeconds: 10, tokenConfigured: false, authenticated: false }
const policy = DEFAULT_REPUTATION_POLICY

const nodes = [
  { ...withFacts(undefined, { nodeId: A, piece: { host: '127.0.0.1', port: 4001 }, capacity: 1000, free: 400, zone: EVIL }, 1000, policy.initial), state: 'online' as const, lastSeen: 9000, rttMs: 1.2 },
  { ...withFacts(undefined, { nodeId: B, piece: { host: '127.0.0.1', port: 4002 } }, 1000, policy.initial), state: 'lost' as const }
]
let record: FileRecord = { ...withFileFacts(undefined, { manifestId: A, capability: `batchain:v1:${A}`, dataShards: 2, parityShards: 2, segments: 2, storedBytes: 4096, createdAt: EVIL }, 1000), label: EVIL, owner: EVIL }
record = withHealth(record, [{ index: 0, good: 4, total: 4, states: 'gggg' }, { index: 1, good: 1, total: 4, states: 'gblm' }], { [A]: 4, [B]: 3 }, 5000)
record = withAudit(record, { at: 6000, challenges: [{ pieceId: B, nodeId: B, state: 'failed' }] })

/** No tag or attribute of ours can come from data: the only <script> or onerror would be injected ones. */
function assertNoInjection (pageHtml: string): void {
  assert.ok(!pageHtml.includes('<script'), 'no script tag')
  assert.ok(!pageHtml.includes('<img'), 'no img tag')
  assert.ok(pageHtml.includes('&lt;script&gt;'), 'the label is shown as text')
}

describe('dashboard views', () => {
  test('network page: a row per node with state badge, capacity (or unknown) and reputation with the threshold mark', () => {
    const out = networkPage(ctx, summarize(nodes, [record], policy, ctx.now), nodeViews(nodes, [record], policy))
    assertNoInjection(out)
    assert.match(out, /<meta http-equiv="refresh" content="10">/)
    assert.match(out, new RegExp(`<tr data-node="${B}" data-state="lost">`))
    assert.match(out, new RegExp(`<tr data-node="${A}" data-state="online">`))
    assert.ok(out.indexOf(`data-node="${B}"`) < out.indexOf(`data-node="${A}"`), 'lost first')
    assert.match(out, /class="badge b-lost"/)
    assert.match(out, /600 B \/ 1000 B/)
    assert.match(out, /<span class="barlabel">unknown<\/span>/)
    assert.match(out, /<span class="mark" style="left:60%"><\/span>/)
    assert.match(out, /1\.20 ms/)
    assert.match(out, /read-only/)
  })

  test('files page: health badge and bar, last audit result', () => {
    const out = filesPage({ ...ctx, path: '/files' }, summarize(nodes, [record], policy, ctx.now), fileSummaries([record]))
    assertNoInjection(out)
    assert.match(out, new RegExp(`<a href="/files/${A}">`))
    assert.match(out, /data-status="unrecoverable"/)
    assert.match(out, /1 \/ 4/)
    assert.match(out, /badge b-failed">1 failed/)
  })

  test('file page: a grid cell per piece coloured by its state; actions only for a signed-in user of a dashboard with a token', () => {
    const detail = fileDetail(record)
    const readOnly = filePage({ ...ctx, path: `/files/${A}` }, detail)
    assertNoInjection(readOnly)
    for (const [piece, state] of [['0:0', 'good'], ['1:1', 'bad'], ['1:2', 'lost'], ['1:3', 'missing']]) {
      assert.match(readOnly, new RegExp(`data-piece="${piece}" data-state="${state}"`))
    }
    assert.match(readOnly, /<div class="seg degraded" data-segment="1"/)
    assert.ok(!readOnly.includes('Audit now'))
    assert.ok(!readOnly.includes('Log in to audit'))
    const anonymous = filePage({ ...ctx, tokenConfigured: true }, detail)
    assert.match(anonymous, /Log in<\/a> to audit or repair/)
    assert.ok(!anonymous.includes('Audit now'))
    const signedIn = filePage({ ...ctx, tokenConfigured: true, authenticated: true }, detail, { kind: 'queued', action: 'audit', jobId: `audit:${A}:5` })
    assert.match(signedIn, new RegExp(`<form method="post" action="/api/files/${A}/audit">`))
    assert.match(signedIn, new RegExp(`<form method="post" action="/api/files/${A}/repair">`))
    assert.match(signedIn, /Audit queued \(job <code>audit:a{64}:5<\/code>\)/)
  })

  test('login page: a token form; without a token, an explanation instead', () => {
    const withToken = loginPage({ ...ctx, tokenConfigured: true }, '/files?x="><b>')
    assert.match(withToken, /<input id="token" name="token" type="password"/)
    assert.match(withToken, /name="next" value="\/files\?x=&quot;&gt;&lt;b&gt;"/)
    assert.ok(!withToken.includes('http-equiv="refresh"'), 'a form does not reload under the user')
    const without = loginPage(ctx, '/')
    assert.ok(!without.includes('<form class="login"'))
    assert.match(without, /read-only for everyone/)
  })
})

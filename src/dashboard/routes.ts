import express, { type Express, type NextFunction, type Request, type RequestHandler, type Response } from 'express'
import { second } from '../core/constants.js'
import { RedisUnavailableError, errorCode, errorMessage } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import { auditJobId } from '../jobs/job-ids.js'
import type { JobProducer } from '../jobs/producer.js'
import { SESSION_COOKIE, SESSION_TTL_MS, authenticate, safeNext, sameOrigin, secretsEqual, sessionValue, type AuthResult } from './auth.js'
import type { Boards } from './board.js'
import type { DashboardData } from './data.js'
import type { DashboardMetrics } from './metrics.js'
import { fileDetail, fileSummaries, isManifestId, nodeViews, summarize } from './models.js'
import { filePage, type FileNotice } from './views/file.js'
import { filesPage } from './views/files.js'
import { errorPage, notFoundPage, unavailablePage, type PageContext } from './views/layout.js'
import { loginPage } from './views/login.js'
import { networkPage } from './views/network.js'

/**
 * Every route of the dashboard:
 *
 *   GET  /, /network              network page            GET /api/summary        counts
 *   GET  /files                   files page              GET /api/nodes          node views
 *   GET  /files/:manifestId       file page               GET /api/files          file summaries
 *   GET  /login, POST /login      token form → cookie     GET /api/files/:id      file detail
 *   POST /logout                  clears the cookie       POST /api/files/:id/audit|repair   (token)
 *   GET  /healthz                 Redis PING              GET /metrics            Prometheus text
 *   /jobs/…                       bull-board (read-only unless the request carries the token)
 *
 * Errors are JSON `{ error: { code, message } }` under /api (and for non-form requests), pages
 * otherwise. Redis trouble is 503, an unknown or malformed manifest id 404, and a request to act
 * 403 without a configured token (read-only) or 401 without the right one.
 */
export interface RouteDeps {
  data: DashboardData
  metrics: DashboardMetrics
  boards: Boards
  /** Present only with a token. */
  producer: JobProducer | undefined
  token: string | undefined
  refreshSeconds: number
  /** Deadline of the /healthz PING. */
  healthTimeoutMs: number
  logger?: Logger
  now?: () => number
}

/** Response codes of the dashboard's own refusals (the rest are BatchainError codes). */
export const DASHBOARD_ERRORS = {
  readOnly: 'BATCHAIN_ERR_READ_ONLY',
  unauthorized: 'BATCHAIN_ERR_UNAUTHORIZED',
  crossOrigin: 'BATCHAIN_ERR_CROSS_ORIGIN',
  notFound: 'BATCHAIN_ERR_NOT_FOUND'
} as const

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
/** Our pages: no script at all, inline styles, forms only to ourselves, nothing from elsewhere. */
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
/** bull-board's UI: its own scripts and styles only (its index links a web font elsewhere: blocked). */
const BOARD_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
const READ_ONLY_MESSAGE = 'This dashboard is read-only: start it with --token (or BATCHAIN_DASHBOARD_TOKEN) to allow job actions'
const UNAUTHORIZED_MESSAGE = 'Job actions need the dashboard token: send Authorization: Bearer TOKEN, or log in at /login'
const JOB_ID = /^[A-Za-z0-9:_.-]{1,200}$/

export function mountRoutes (app: Express, deps: RouteDeps): void {
  const now = deps.now ?? Date.now
  const { data, boards, token } = deps
  const authOf = (req: Request): AuthResult => authenticate({ authorization: req.headers.authorization, cookie: req.headers.cookie }, token, now())
  const ctxOf = (req: Request): PageContext => ({ path: req.path, now: now(), refreshSeconds: deps.refreshSeconds, tokenConfigured: token !== undefined, authenticated: authOf(req).ok })

  app.use((req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff')
    // same-origin (not no-referrer): browsers then still send our Origin on our own form posts.
    res.setHeader('Referrer-Policy', 'same-origin')
    res.setHeader('Cache-Control', 'no-store')
    res.setHeader('Content-Security-Policy', req.path === '/jobs' || req.path.startsWith('/jobs/') ? BOARD_CSP : PAGE_CSP)
    next()
  })

  /** Sends a refusal or error as JSON, or as a page when a browser form or page asked. */
  const fail = (req: Request, res: Response, status: number, code: string, message: string): void => {
    if (wantsHtml(req)) {
      res.status(status).type('html').send(errorPage(ctxOf(req), status, message))
      return
    }
    res.status(status).json({ error: { code, message } })
  }

  /** True when the request may act; otherwise answers 403/401 and returns false. */
  const mayAct = (req: Request, res: Response): boolean => {
    const auth = authOf(req)
    if (!auth.ok) {
      if (auth.reason === 'read-only') fail(req, res, 403, DASHBOARD_ERRORS.readOnly, READ_ONLY_MESSAGE)
      else {
        res.setHeader('WWW-Authenticate', 'Bearer realm="batchain-dashboard"')
        fail(req, res, 401, DASHBOARD_ERRORS.unauthorized, UNAUTHORIZED_MESSAGE)
      }
      return false
    }
    if (auth.via === 'cookie' && !sameOrigin(req.headers)) {
      fail(req, res, 403, DASHBOARD_ERRORS.crossOrigin, 'Refused: a job action authorised by the session cookie must come from this dashboard\'s own pages')
      return false
    }
    return true
  }

  // Pages: data errors become a 503 page that keeps reloading until Redis is back.
  const pageRoute = (title: string, render: (req: Request, res: Response) => Promise<string | undefined>): RequestHandler => async (req, res) => {
    try {
      const body = await render(req, res)
      if (body !== undefined) res.type('html').send(body)
    } catch (err) {
      if (err instanceof RedisUnavailableError) {
        res.status(503).type('html').send(unavailablePage(ctxOf(req), title, errorMessage(err)))
        return
      }
      deps.logger?.error({ err: errorMessage(err), path: req.path }, 'page failed')
      res.status(500).type('html').send(errorPage(ctxOf(req), 500, `${errorCode(err)}: ${errorMessage(err)}`))
    }
  }
  const apiRoute = (handler: (req: Request, res: Response) => Promise<unknown>): RequestHandler => async (req, res) => {
    try {
      const body = await handler(req, res)
      if (body !== undefined) res.json(body)
    } catch (err) {
      const status = err instanceof RedisUnavailableError ? 503 : 500
      if (status === 500) deps.logger?.error({ err: errorMessage(err), path: req.path }, 'API request failed')
      fail(req, res, status, errorCode(err), errorMessage(err))
    }
  }

  const networkRoute = pageRoute('Network', async req => {
    const { nodes, files } = await data.all()
    return networkPage(ctxOf(req), summarize(nodes, files, data.reputation, now()), nodeViews(nodes, files, data.reputation))
  })
  app.get('/', networkRoute)
  app.get('/network', networkRoute)

  app.get('/files', pageRoute('Files', async req => {
    const { nodes, files } = await data.all()
    return filesPage(ctxOf(req), summarize(nodes, files, data.reputation, now()), fileSummaries(files))
  }))

  app.get('/files/:manifestId', pageRoute('File', async (req, res) => {
    const id = req.params.manifestId
    const record = isManifestId(id) ? await data.file(id) : undefined
    if (record === undefined) {
      res.status(404).type('html').send(notFoundPage(ctxOf(req), isManifestId(id) ? 'No file with this manifest id is registered.' : 'A manifest id is 64 lowercase hex characters.'))
      return undefined
    }
    return filePage(ctxOf(req), fileDetail(record), noticeOf(req.query))
  }))

  // JSON API.
  app.get('/api/summary', apiRoute(async () => {
    const [{ nodes, files }, queues] = await Promise.all([data.all(), data.queueCounts()])
    return summarize(nodes, files, data.reputation, now(), queues)
  }))
  app.get('/api/nodes', apiRoute(async () => {
    const { nodes, files } = await data.all()
    return { threshold: data.reputation.threshold, nodes: nodeViews(nodes, files, data.reputation) }
  }))
  app.get('/api/files', apiRoute(async () => ({ files: fileSummaries((await data.all()).files) })))
  app.get('/api/files/:manifestId', apiRoute(async (req, res) => {
    const id = req.params.manifestId
    if (!isManifestId(id)) return notFound(res, 'A manifest id is 64 lowercase hex characters')
    const record = await data.file(id)
    if (record === undefined) return notFound(res, 'No file with this manifest id is registered')
    return { file: fileDetail(record) }
  }))

  const action = (kind: 'audit' | 'repair'): RequestHandler => apiRoute(async (req, res) => {
    if (!mayAct(req, res)) return undefined
    const id = req.params.manifestId
    if (!isManifestId(id)) return notFoundFor(req, res, 'A manifest id is 64 lowercase hex characters')
    const record = await data.file(id)
    if (record === undefined) return notFoundFor(req, res, 'No file with this manifest id is registered')
    const producer = deps.producer
    if (producer === undefined) throw new Error('no job producer although a token is set')
    let jobId: string
    let deduplicated = false
    try {
      if (kind === 'audit') {
        const tick = Math.floor(now() / second)
        jobId = (await producer.enqueueAudit(record.capability, id, tick)).id
        deduplicated = jobId !== auditJobId(id, tick)
      } else {
        jobId = (await producer.enqueueRepairCheck(record.capability, id)).id
      }
    } catch (err) {
      if (err instanceof RedisUnavailableError) throw err
      throw new RedisUnavailableError(`Cannot queue the ${kind}: ${errorMessage(err)}`, { cause: err })
    }
    deps.logger?.info({ manifestId: id, kind, jobId, via: authOf(req).ok }, 'job queued from the dashboard')
    if (isFormPost(req)) {
      res.redirect(303, `/files/${id}?queued=${kind}&job=${encodeURIComponent(jobId)}`)
      return undefined
    }
    res.status(202)
    return { queued: true, queue: kind, name: kind === 'audit' ? 'audit-file' : 'repair-check', manifestId: id, jobId, deduplicated }
  })
  app.post('/api/files/:manifestId/audit', action('audit'))
  app.post('/api/files/:manifestId/repair', action('repair'))

  // Login: a form posting the token; the answer is a session cookie (auth.ts).
  app.get('/login', (req, res) => {
    res.type('html').send(loginPage(ctxOf(req), safeNext(req.query.next)))
  })
  app.post('/login', express.urlencoded({ extended: false, limit: '4kb' }), async (req, res) => {
    const next = safeNext((req.body as Record<string, unknown> | undefined)?.next)
    if (token === undefined) { res.status(403).type('html').send(loginPage(ctxOf(req), next)); return }
    if (!sameOrigin(req.headers)) { fail(req, res, 403, DASHBOARD_ERRORS.crossOrigin, 'Refused: log in from this dashboard\'s own login page'); return }
    const given = (req.body as Record<string, unknown> | undefined)?.token
    if (typeof given !== 'string' || !secretsEqual(given, token)) {
      // A little friction for guessing; the comparison itself is constant-time.
      await new Promise(resolve => setTimeout(resolve, 250))
      res.status(401).type('html').send(loginPage({ ...ctxOf(req), authenticated: false }, next, 'Wrong token.'))
      return
    }
    res.cookie(SESSION_COOKIE, sessionValue(token, now()), { httpOnly: true, sameSite: 'strict', path: '/', maxAge: SESSION_TTL_MS, secure: req.secure })
    res.redirect(303, next)
  })
  app.post('/logout', (_req, res) => {
    res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', path: '/' })
    res.redirect(303, '/')
  })

  app.get('/healthz', async (_req, res) => {
    const ping = await data.ping(deps.healthTimeoutMs)
    res.status(ping.ok ? 200 : 503).json(ping.ok
      ? { status: 'ok', redis: { ok: true, latencyMs: ping.latencyMs } }
      : { status: 'unavailable', redis: { ok: false, error: ping.error } })
  })

  app.get('/metrics', async (_req, res) => {
    const text = await deps.metrics.scrape()
    res.type(deps.metrics.contentType).send(text)
  })

  // bull-board. Every non-GET request is an action: refused here unless the request may act.
  app.use('/jobs', (req, res, next) => {
    if (!SAFE_METHODS.has(req.method) && !mayAct(req, res)) return
    const board = boards.readWrite !== undefined && authOf(req).ok ? boards.readWrite : boards.readOnly
    // As express does for a mounted app: the board is an express app, restore our prototypes after it.
    const orig = req.app as unknown as { request: object, response: object }
    board(req, res, (err?: unknown) => {
      Object.setPrototypeOf(req, orig.request)
      Object.setPrototypeOf(res, orig.response)
      next(err)
    })
  })

  // Anything else: 404, JSON under /api, a page otherwise.
  app.use((req, res) => {
    if (!SAFE_METHODS.has(req.method) && !mayAct(req, res)) return
    if (req.path.startsWith('/api/') || !wantsHtml(req)) { notFound(res, `No route ${req.method} ${req.path}`); return }
    res.status(404).type('html').send(notFoundPage(ctxOf(req), `There is no page at ${req.path}.`))
  })
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : 500
    if (status >= 500) deps.logger?.error({ err: errorMessage(err), path: req.path }, 'request failed')
    if (res.headersSent) return
    fail(req, res, status, status === 500 ? errorCode(err) : 'BATCHAIN_ERR_BAD_REQUEST', errorMessage(err))
  })
}

function notFound (res: Response, message: string): undefined {
  res.status(404).json({ error: { code: DASHBOARD_ERRORS.notFound, message } })
  return undefined
}

function notFoundFor (req: Request, res: Response, message: string): undefined {
  if (isFormPost(req)) {
    res.status(404).type('text').send(message)
    return undefined
  }
  return notFound(res, message)
}

function isFormPost (req: Request): boolean {
  return req.method === 'POST' && req.is('application/x-www-form-urlencoded') === 'application/x-www-form-urlencoded'
}

/** A browser asking for a page (form posts, page navigations), not a script asking for JSON. */
function wantsHtml (req: Request): boolean {
  if (isFormPost(req)) return true
  if (req.path.startsWith('/api/') || req.path === '/healthz' || req.path === '/metrics') return false
  return req.accepts(['json', 'html']) === 'html'
}

/** The notice a file page shows after an action (the query only selects one; its text is ours). */
function noticeOf (query: Request['query']): FileNotice | undefined {
  const queued = query.queued
  const job = query.job
  if ((queued === 'audit' || queued === 'repair') && typeof job === 'string' && JOB_ID.test(job)) return { kind: 'queued', action: queued, jobId: job }
  return undefined
}

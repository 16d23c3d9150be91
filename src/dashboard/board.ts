import { createBullBoard } from '@bull-board/api'
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter'
import { ExpressAdapter } from '@bull-board/express'
import type { Queue } from 'bullmq'
import type { Express } from 'express'
import type { QueueName } from '../jobs/payloads.js'

/**
 * bull-board at `basePath`: the queues' jobs, rendered client-side by bull-board's own UI.
 *
 * Two boards over the same Queue objects: a read-only one (bull-board's readOnlyMode, so its UI
 * shows no action buttons and its API refuses actions) for everyone, and, only when a token is
 * configured, a read-write one for requests that carry it. The router in routes.ts picks the board
 * per request and refuses every non-GET request that is not authorised before either board sees it.
 */
export interface Boards {
  readOnly: Express
  /** Undefined without a token: nobody may act. */
  readWrite: Express | undefined
}

export function createBoards (queues: ReadonlyMap<QueueName, Queue>, basePath: string, withActions: boolean): Boards {
  const make = (readOnlyMode: boolean): Express => {
    const serverAdapter = new ExpressAdapter()
    serverAdapter.setBasePath(basePath)
    createBullBoard({
      queues: [...queues.values()].map(q => new BullMQAdapter(q, { readOnlyMode, allowRetries: !readOnlyMode })),
      serverAdapter,
      options: {
        uiConfig: {
          boardTitle: 'BatChain jobs',
          hideDocsLink: true,
          miscLinks: [{ text: 'Network', url: '/' }, { text: 'Files', url: '/files' }]
        }
      }
    })
    const app = serverAdapter.getRouter() as Express
    app.disable('x-powered-by')
    withoutExternalLinks(app)
    return app
  }
  return { readOnly: make(true), readWrite: withActions ? make(false) : undefined }
}

type RenderCallback = (err: Error | null, html?: string) => void
type Engine = (path: string, options: object, callback: RenderCallback) => void

/**
 * bull-board's index page links a web font stylesheet on another host; nothing of ours loads from
 * elsewhere, so the rendered page loses that <link> (the UI falls back to system fonts). The page
 * is rendered by the 'ejs' engine bull-board registers on its express app (`app.engines`); the CSP
 * of /jobs (routes.ts) blocks such a link anyway, should a future bull-board render differently.
 */
function withoutExternalLinks (app: Express): void {
  const engines = (app as unknown as { engines?: Record<string, Engine | undefined> }).engines
  const render = engines?.['.ejs']
  if (render === undefined) return
  app.engine('ejs', (path, options, callback) => {
    render(path, options, (err, html) => { callback(err, html?.replace(/<link\b[^>]*href="https?:\/\/[^"]*"[^>]*>/gi, '')) })
  })
}

import type { Logger } from '../../core/logger.js'
import type { Identity } from '../../crypto/keys.js'
import type { FrameHead } from '../../protocol/index.js'
import type { PieceStore } from '../../store/index.js'
import type { FrameReader } from '../frame-reader.js'
import type { FrameWriter } from '../frame-writer.js'

/** What a request handler gets: the request frame, the connection's reader/writer and the node's parts. */
export interface HandlerContext {
  frame: FrameHead
  reader: FrameReader
  writer: FrameWriter
  store: PieceStore
  identity: Identity
  version: string
  /** When set, PUT answers carry a pointer record signed by this node, valid this long. */
  pointerTtlMs?: number
  log: Logger
  /** Fires when the connection closes or the server stops. */
  signal: AbortSignal
}

export type Handler = (ctx: HandlerContext) => Promise<void>

import { Op } from '../../protocol/index.js'
import type { Handler } from './context.js'
import { handleAudit } from './audit.js'
import { handleDelete } from './delete.js'
import { handleGet } from './get.js'
import { handleHas } from './has.js'
import { handlePing } from './ping.js'
import { handlePut } from './put.js'
import { handleStat } from './stat.js'

export type { Handler, HandlerContext } from './context.js'

/** Request handlers by frame type; any other type is refused as unexpected. */
export const handlers: ReadonlyMap<number, Handler> = new Map<number, Handler>([
  [Op.Put, handlePut],
  [Op.Get, handleGet],
  [Op.Audit, handleAudit],
  [Op.Delete, handleDelete],
  [Op.Stat, handleStat],
  [Op.Ping, handlePing],
  [Op.Has, handleHas]
])

import { PROTOCOL_VERSION } from '../../core/constants.js'
import { Op, Res, parseHeader } from '../../protocol/index.js'
import type { HandlerContext } from './context.js'

/** STAT: identity, version and capacity of this node. */
export async function handleStat (ctx: HandlerContext): Promise<void> {
  parseHeader(Op.Stat, ctx.frame.header)
  const s = ctx.store.stats()
  await ctx.writer.writeFrame(Res.Stat, {
    nodeId: ctx.identity.id,
    version: ctx.version,
    protocol: PROTOCOL_VERSION,
    capacity: s.capacity,
    used: s.used,
    free: s.free,
    pieces: s.pieces
  })
}

import { toPieceId } from '../../core/ids.js'
import { Op, Res, parseHeader } from '../../protocol/index.js'
import type { HandlerContext } from './context.js'

/** HAS: which of up to MAX_HAS_IDS pieces this node holds (how a client finds holders without the DHT). */
export async function handleHas (ctx: HandlerContext): Promise<void> {
  const h = parseHeader(Op.Has, ctx.frame.header)
  const ids = h.ids.map(toPieceId)
  const have: boolean[] = []
  for (const id of ids) have.push(await ctx.store.has(id, { signal: ctx.signal }))
  await ctx.writer.writeFrame(Res.Has, { have })
}

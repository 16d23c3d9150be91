import { toPieceId } from '../../core/ids.js'
import { signPointer } from '../../crypto/pointer.js'
import { Op, Res, parseHeader } from '../../protocol/index.js'
import type { HandlerContext } from './context.js'

/**
 * HAS: which of up to MAX_HAS_IDS pieces this node holds (how a client finds holders without the
 * DHT). With `pointers`, also this node's signed pointer record for each piece it holds, when it
 * publishes records at all (a node without a pointer lifetime answers without them).
 */
export async function handleHas (ctx: HandlerContext): Promise<void> {
  const h = parseHeader(Op.Has, ctx.frame.header)
  const ids = h.ids.map(toPieceId)
  const have: boolean[] = []
  for (const id of ids) have.push(await ctx.store.has(id, { signal: ctx.signal }))
  const ttlMs = ctx.pointerTtlMs
  if (h.pointers !== true || ttlMs === undefined) {
    await ctx.writer.writeFrame(Res.Has, { have })
    return
  }
  const now = Date.now()
  const pointers = ids.map((id, i) => have[i] === true ? signPointer(ctx.identity, id, { ttlMs, now }) : null)
  await ctx.writer.writeFrame(Res.Has, { have, pointers })
}

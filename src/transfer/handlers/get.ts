import { toPieceId } from '../../core/ids.js'
import { Op, Res, parseHeader } from '../../protocol/index.js'
import type { HandlerContext } from './context.js'

/** GET: the whole piece or a byte range, streamed from disk with backpressure. */
export async function handleGet (ctx: HandlerContext): Promise<void> {
  const h = parseHeader(Op.Get, ctx.frame.header)
  const id = toPieceId(h.id)
  const { size, stream } = await ctx.store.get(id, { offset: h.offset, length: h.length, signal: ctx.signal })
  const offset = h.offset ?? 0
  const length = h.length ?? size - offset
  await ctx.writer.writeFrame(Res.Get, { size, offset, length }, length, ctx.signal)
  // A read error past this point cannot be reported in-band (we are inside a body): it destroys the connection.
  const written = await ctx.writer.writeBody(stream, ctx.signal)
  if (written !== length) throw new Error(`Piece ${id} yielded ${written} bytes, announced ${length}`)
}

import { toPieceId } from '../../core/ids.js'
import { Op, Res, parseHeader } from '../../protocol/index.js'
import type { HandlerContext } from './context.js'

/** GET: the whole piece or a byte range, streamed from disk with backpressure. */
export async function handleGet (ctx: HandlerContext): Promise<void> {
  const h = parseHeader(Op.Get, ctx.frame.header)
  const id = toPieceId(h.id)
  const { size, stream, release } = await ctx.store.get(id, { offset: h.offset, length: h.length, signal: ctx.signal })
  const offset = h.offset ?? 0
  const length = h.length ?? size - offset
  // The store destroys the stream with an error when the request is aborted (the client
  // went away). Until the body loop below iterates it, nothing else listens for that error,
  // and an unhandled stream 'error' would take the whole node down: the iteration (or the
  // failed head write) reports it instead.
  stream.on('error', () => {})
  try {
    await ctx.writer.writeFrame(Res.Get, { size, offset, length }, length, ctx.signal)
    // A read error past this point cannot be reported in-band (we are inside a body): it destroys the connection.
    // The chunks may be views of a store buffer: it is reused once the socket is done with them.
    const written = await ctx.writer.writeBody(stream, ctx.signal, release)
    if (written !== length) throw new Error(`Piece ${id} yielded ${written} bytes, announced ${length}`)
  } finally {
    // Releases the file descriptor when the head or body write failed half way.
    const destroyable = stream as { destroy?: () => void }
    if (typeof destroyable.destroy === 'function') destroyable.destroy()
  }
}

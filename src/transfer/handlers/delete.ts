import { SIGNED_REQUEST_WINDOW } from '../../core/constants.js'
import { InvalidSignatureError, StaleRequestError } from '../../core/errors.js'
import { toPieceId } from '../../core/ids.js'
import { verifySignature } from '../../crypto/keys.js'
import { Op, Res, deleteSigningBytes, parseHeader } from '../../protocol/index.js'
import type { HandlerContext } from './context.js'

/**
 * DELETE: only an owner of the piece may remove it, with a signature bound to
 * this node and a time window (a captured delete cannot be replayed elsewhere
 * or much later). The bytes go when the last owner lets go.
 */
export async function handleDelete (ctx: HandlerContext): Promise<void> {
  const h = parseHeader(Op.Delete, ctx.frame.header)
  const id = toPieceId(h.id)
  if (Math.abs(Date.now() - h.timestamp) > SIGNED_REQUEST_WINDOW) {
    throw new StaleRequestError(undefined, { details: { timestamp: h.timestamp } })
  }
  if (!verifySignature(h.owner, deleteSigningBytes(ctx.identity.id, id, h.timestamp), h.signature)) {
    throw new InvalidSignatureError('DELETE signature does not verify for this node and piece')
  }
  const { deleted } = await ctx.store.removeOwner(id, Buffer.from(h.owner).toString('hex'), { signal: ctx.signal })
  ctx.log.info({ piece: id, deleted }, 'owner released piece')
  await ctx.writer.writeFrame(Res.Delete, { deleted })
}

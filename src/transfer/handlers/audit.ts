import { toPieceId } from '../../core/ids.js'
import { Op, Res, parseHeader } from '../../protocol/index.js'
import type { HandlerContext } from './context.js'

/** AUDIT: the requested Merkle leaves, read from disk, with their proofs. */
export async function handleAudit (ctx: HandlerContext): Promise<void> {
  const h = parseHeader(Op.Audit, ctx.frame.header)
  const proof = await ctx.store.audit(toPieceId(h.id), h.indices, { signal: ctx.signal })
  const body = Buffer.concat(proof.leaves)
  await ctx.writer.writeFrameWithBody(Res.Audit, {
    leafCount: proof.leafCount,
    leafLengths: proof.leaves.map(l => l.length),
    proofs: proof.proofs
  }, body, ctx.signal)
}

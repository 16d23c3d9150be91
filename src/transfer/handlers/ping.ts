import { Op, Res, parseHeader } from '../../protocol/index.js'
import type { HandlerContext } from './context.js'

/** PING: liveness and round-trip time. */
export async function handlePing (ctx: HandlerContext): Promise<void> {
  parseHeader(Op.Ping, ctx.frame.header)
  await ctx.writer.writeFrame(Res.Ping, { time: Date.now() })
}

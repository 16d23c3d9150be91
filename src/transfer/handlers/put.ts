import type { ByteReader } from '../../core/byte-reader.js'
import { PieceTooLargeError, InvalidArgumentError, InvalidHeaderError, InvalidSignatureError, MalformedFrameError, ConnectionClosedError } from '../../core/errors.js'
import { toPieceId } from '../../core/ids.js'
import { verifySignature } from '../../crypto/keys.js'
import { signPointer } from '../../crypto/pointer.js'
import { Op, Res, parseHeader, putSigningBytes, DEFAULT_LIMITS } from '../../protocol/index.js'
import type { HandlerContext } from './context.js'

/**
 * PUT: header first, body only on demand. The server answers CONTINUE once the
 * store has reserved the space, so a full node refuses a piece without the
 * client sending a byte of it, and a piece the node already holds costs nothing.
 */
export async function handlePut (ctx: HandlerContext): Promise<void> {
  const { reader, writer, store, signal } = ctx
  const h = parseHeader(Op.Put, ctx.frame.header)
  if (ctx.frame.bodyLength !== 0) {
    await reader.skip(ctx.frame.bodyLength, signal)
    throw new InvalidHeaderError('PUT carries no body; send DATA after CONTINUE')
  }
  const id = toPieceId(h.id)
  if (h.size > DEFAULT_LIMITS.maxBodySize) throw new PieceTooLargeError(undefined, { details: { size: h.size } })
  if (!verifySignature(h.owner, putSigningBytes(id, h.size), h.signature)) {
    throw new InvalidSignatureError('PUT signature does not verify with the given owner key')
  }
  const owner = Buffer.from(h.owner).toString('hex')

  if (await store.has(id, { signal })) {
    await store.addOwner(id, owner, { signal })
    await writer.writeFrame(Res.Put, answer(ctx, id, false))
    return
  }

  let announced = -1
  let consumed = 0
  // CONTINUE goes out only when the store first reads the body (after its checks and its space
  // reservation). The body is read straight into the store's buffer (FrameReader.bodyReader).
  let opened: Promise<ByteReader> | undefined
  const open = async (): Promise<ByteReader> => {
    await writer.writeFrame(Op.Continue, {})
    const data = await reader.readFrame(signal)
    if (data === undefined) throw new ConnectionClosedError('Connection closed before the piece body')
    if (data.type !== Op.Data) throw new MalformedFrameError(`Expected DATA after CONTINUE, got type ${data.type}`)
    announced = data.bodyLength
    if (announced !== h.size) {
      throw new InvalidArgumentError(`Piece body is ${announced > h.size ? 'longer' : 'shorter'} than its announced size`, { details: { id, size: h.size, body: announced } })
    }
    return reader.bodyReader(data.bodyLength, signal)
  }
  const body: ByteReader = {
    readInto: async target => {
      const n = await (await (opened ??= open())).readInto(target)
      consumed += n
      return n
    }
  }

  try {
    const { created } = await store.put(id, h.size, body, { owner, signal })
    await writer.writeFrame(Res.Put, answer(ctx, id, created))
  } catch (err) {
    // Keep the connection in step: swallow what is left of an announced body, then report.
    if (announced > consumed && !signal.aborted) await reader.skip(announced - consumed, signal)
    throw err
  }
}

/** The PUT answer; with a fresh pointer record when the node publishes them (so the uploader can at once). */
function answer (ctx: HandlerContext, id: ReturnType<typeof toPieceId>, created: boolean): { created: boolean, pointer?: ReturnType<typeof signPointer> } {
  return ctx.pointerTtlMs === undefined ? { created } : { created, pointer: signPointer(ctx.identity, id, { ttlMs: ctx.pointerTtlMs }) }
}

import { encode } from '@msgpack/msgpack'
import { MAX_HEADER_SIZE, MAX_PIECE_SIZE } from '../core/constants.js'
import { FrameTooLargeError, InvalidArgumentError } from '../core/errors.js'

/**
 * Frame layout (all integers big-endian):
 *
 *   0   u8   magic 0xBA
 *   1   u8   type (an Op code, or a response code = op | 0x80, or 0xFF error)
 *   2   u32  header length H (≤ MAX_HEADER_SIZE)
 *   6   u32  body length, high 32 bits   ┐ u64 body length B (≤ the receiver's body limit)
 *   10  u32  body length, low 32 bits    ┘
 *   14  H    header: one MessagePack map, validated per type
 *   14+H B   body: raw bytes (piece data), streamed; never JSON, never inside the header
 *
 * The prefix is fixed-size so a receiver knows, before allocating anything, how
 * much it is being asked to buffer (the header) and how much to stream (the body).
 */
export const FRAME_MAGIC = 0xba
export const PREFIX_SIZE = 14

export interface FrameLimits {
  /** Largest header accepted. @defaultValue MAX_HEADER_SIZE */
  maxHeaderSize: number
  /** Largest body accepted. @defaultValue MAX_PIECE_SIZE */
  maxBodySize: number
}

export const DEFAULT_LIMITS: FrameLimits = { maxHeaderSize: MAX_HEADER_SIZE, maxBodySize: MAX_PIECE_SIZE }

export interface FrameHead {
  type: number
  header: Record<string, unknown>
  bodyLength: number
}

/** Encodes the prefix and header of a frame; the body (if any) is written after it. */
export function encodeFrameHead (type: number, header: Record<string, unknown>, bodyLength = 0, limits: FrameLimits = DEFAULT_LIMITS): Buffer {
  if (!Number.isInteger(type) || type < 0 || type > 0xff) throw new InvalidArgumentError(`Bad frame type ${type}`)
  if (!Number.isSafeInteger(bodyLength) || bodyLength < 0) throw new InvalidArgumentError(`Bad body length ${bodyLength}`)
  const packed = encode(header, { ignoreUndefined: true })
  if (packed.length > limits.maxHeaderSize) {
    throw new FrameTooLargeError(`Header of ${packed.length} bytes exceeds the limit of ${limits.maxHeaderSize}`)
  }
  const out = Buffer.allocUnsafe(PREFIX_SIZE + packed.length)
  out[0] = FRAME_MAGIC
  out[1] = type
  out.writeUInt32BE(packed.length, 2)
  out.writeUInt32BE(Math.floor(bodyLength / 2 ** 32), 6)
  out.writeUInt32BE(bodyLength >>> 0, 10)
  out.set(packed, PREFIX_SIZE)
  return out
}

import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { abortReason } from '../core/abort.js'
import { PROTOCOL_VERSION } from '../core/constants.js'
import { ConnectionClosedError, HandshakeError, MalformedFrameError, PeerUnreachableError, RemoteError } from '../core/errors.js'
import type { NodeId } from '../core/ids.js'
import { nodeIdOf, verifySignature } from '../crypto/keys.js'
import { Op, Res, helloSigningBytes, opName, parseHeader, type FrameHead, type FrameLimits } from '../protocol/index.js'
import { formatContact, type Contact } from './contact.js'
import { FrameReader } from './frame-reader.js'
import { FrameWriter } from './frame-writer.js'

/**
 * One client connection to a BatNode, after a handshake that proved the node
 * holds the private key of the id it claims (it signs our fresh nonce). Requests
 * on a connection run one at a time; concurrency comes from the pool.
 */
export class PeerConnection {
  readonly socket: Socket
  readonly reader: FrameReader
  readonly writer: FrameWriter
  readonly nodeId: NodeId
  readonly publicKey: Buffer
  readonly contact: Contact

  private constructor (socket: Socket, reader: FrameReader, writer: FrameWriter, contact: Contact, nodeId: NodeId, publicKey: Buffer) {
    this.socket = socket
    this.reader = reader
    this.writer = writer
    this.contact = contact
    this.nodeId = nodeId
    this.publicKey = publicKey
  }

  get usable (): boolean {
    return !this.socket.destroyed && this.socket.writable && this.reader.atBoundary
  }

  static async open (contact: Contact, options: { signal?: AbortSignal, limits?: Partial<FrameLimits>, agent?: string } = {}): Promise<PeerConnection> {
    const { signal } = options
    if (signal?.aborted === true) throw abortReason(signal)
    // Reads go through the reader's onread path (no buffer allocated per read; see FrameReader).
    const made: { reader?: FrameReader } = {}
    const socket = connect({ host: contact.host, port: contact.port, noDelay: true, onread: FrameReader.onReadOptions(() => made.reader) })
    const reader = made.reader = new FrameReader(socket, options.limits, 'onread')
    const onAbort = (): void => { socket.destroy(signal === undefined ? undefined : abortReason(signal)) }
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve)
        socket.once('error', err => {
          reject(signal?.aborted === true
            ? abortReason(signal)
            : new PeerUnreachableError(`Cannot reach ${formatContact(contact)}: ${err.message}`, { cause: err }))
        })
      })
      socket.on('error', () => { /* surfaced through reads and writes */ })
      const writer = new FrameWriter(socket)
      const nonce = randomBytes(32)
      await writer.writeFrame(Op.Hello, { version: PROTOCOL_VERSION, nonce, agent: options.agent }, 0, signal)
      const frame = await reader.readFrame(signal)
      if (frame === undefined) throw new HandshakeError(`${formatContact(contact)} closed the connection during the handshake`)
      if (frame.type === Op.Error) throw remoteError(frame)
      if (frame.type !== Res.Hello) throw new HandshakeError(`Expected HELLO response, got ${opName(frame.type)}`)
      const hello = parseHeader(Res.Hello, frame.header)
      const publicKey = Buffer.from(hello.publicKey)
      const nodeId = nodeIdOf(publicKey)
      if (hello.nodeId !== nodeId) throw new HandshakeError('Node id does not match its public key')
      if (!verifySignature(publicKey, helloSigningBytes(nonce), hello.signature)) {
        throw new HandshakeError('Node failed to prove its identity (bad handshake signature)')
      }
      if (contact.nodeId !== undefined && contact.nodeId !== nodeId) {
        throw new HandshakeError(`Expected node ${contact.nodeId.slice(0, 12)}… at ${formatContact(contact)}, found ${nodeId.slice(0, 12)}…`)
      }
      return new PeerConnection(socket, reader, writer, contact, nodeId, publicKey)
    } catch (err) {
      socket.destroy()
      throw err
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }

  /** Reads the response to the request just written: its head, or the remote error as a RemoteError. */
  async response (expectedType: number, signal?: AbortSignal): Promise<FrameHead> {
    const frame = await this.reader.readFrame(signal)
    if (frame === undefined) throw new ConnectionClosedError('Connection closed before a response')
    if (frame.type === Op.Error) throw remoteError(frame)
    if (frame.type !== expectedType) {
      throw new MalformedFrameError(`Expected ${opName(expectedType)}, got ${opName(frame.type)}`)
    }
    return frame
  }

  close (): void {
    this.socket.destroy()
  }
}

function remoteError (frame: FrameHead): RemoteError {
  try {
    const h = parseHeader(Op.Error, frame.header)
    return new RemoteError(h.code, h.message)
  } catch {
    return new RemoteError('BATCHAIN_ERR_REMOTE', 'Peer sent a malformed error frame')
  }
}

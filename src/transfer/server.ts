import { createServer, type Server, type Socket } from 'node:net'
import { DEFAULT_IDLE_TIMEOUT, PROTOCOL_VERSION, second } from '../core/constants.js'
import { BatchainError, HandshakeError, TimeoutError, UnknownOperationError, errorCode, errorMessage } from '../core/errors.js'
import { silentLogger, type Logger } from '../core/logger.js'
import { VERSION } from '../core/version.js'
import { sign, type Identity } from '../crypto/keys.js'
import { Op, Res, helloSigningBytes, opName, parseHeader, type FrameLimits } from '../protocol/index.js'
import type { PieceStore } from '../store/index.js'
import { adoptWithOnRead } from './adopt.js'
import { FrameReader } from './frame-reader.js'
import { FrameWriter } from './frame-writer.js'
import { handlers } from './handlers/index.js'

export interface PieceServerInit {
  store: PieceStore
  identity: Identity
  /** @defaultValue '127.0.0.1' */
  host?: string
  /** 0 picks a free port. @defaultValue 0 */
  port?: number
  logger?: Logger
  /** Reported by STAT. @defaultValue the package version */
  version?: string
  limits?: Partial<FrameLimits>
  /** Time a new connection has to complete the handshake. @defaultValue 10 s */
  handshakeTimeout?: number
  /** A connection idle (no bytes either way) this long is closed. @defaultValue DEFAULT_IDLE_TIMEOUT */
  idleTimeout?: number
  /** Connections beyond this are refused. @defaultValue 1024 */
  maxConnections?: number
  /**
   * When set, every PUT answer carries a pointer record (crypto/pointer.ts) signed by this node and
   * valid this many ms, which the uploader publishes in the DHT. Unset: no records (static networks).
   */
  pointerTtlMs?: number
}

export interface PieceServer {
  start: () => Promise<void>
  /** Stops accepting, lets in-flight requests finish for `grace` ms, then closes everything. */
  stop: (options?: { grace?: number }) => Promise<void>
  address: () => { host: string, port: number }
  readonly connections: number
}

export function createPieceServer (init: PieceServerInit): PieceServer {
  return new PieceServerImpl(init)
}

class PieceServerImpl implements PieceServer {
  private readonly init: Required<Omit<PieceServerInit, 'limits' | 'pointerTtlMs'>> & { limits: Partial<FrameLimits>, pointerTtlMs?: number }
  private readonly server: Server
  private readonly sockets = new Map<Socket, AbortController>()
  private readonly busy = new Set<Socket>()
  private stopping: Promise<void> | undefined

  constructor (init: PieceServerInit) {
    this.init = {
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger(),
      version: VERSION,
      limits: {},
      handshakeTimeout: 10 * second,
      idleTimeout: DEFAULT_IDLE_TIMEOUT,
      maxConnections: 1024,
      ...init
    }
    // Accepted paused: each connection moves into an onread socket before a byte is read (adopt.ts).
    this.server = createServer({ noDelay: true, pauseOnConnect: true }, socket => { this.accept(socket) })
    this.server.maxConnections = this.init.maxConnections
  }

  get connections (): number { return this.sockets.size }

  async start (): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.init.port, this.init.host, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    this.server.on('error', err => { this.init.logger.error({ err }, 'server error') })
  }

  address (): { host: string, port: number } {
    const addr = this.server.address()
    if (addr === null || typeof addr === 'string') return { host: this.init.host, port: this.init.port }
    return { host: addr.address, port: addr.port }
  }

  async stop (options: { grace?: number } = {}): Promise<void> {
    this.stopping ??= this.doStop(options.grace ?? 5 * second)
    await this.stopping
  }

  private async doStop (grace: number): Promise<void> {
    const closed = new Promise<void>(resolve => { this.server.close(() => { resolve() }) })
    // Idle connections go now; busy ones get the grace period to finish their request.
    for (const socket of this.sockets.keys()) if (!this.busy.has(socket)) socket.destroy()
    const deadline = Date.now() + grace
    while (this.busy.size > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
    for (const [socket, controller] of this.sockets) {
      controller.abort(new TimeoutError('Server is stopping'))
      socket.destroy()
    }
    await closed
  }

  private accept (accepted: Socket): void {
    if (this.stopping !== undefined) { accepted.destroy(); return }
    const made: { reader?: FrameReader } = {}
    const { socket, onread } = adoptWithOnRead(accepted, FrameReader.onReadOptions(() => made.reader))
    made.reader = new FrameReader(socket, this.init.limits, onread ? 'onread' : 'stream')
    const controller = new AbortController()
    this.sockets.set(socket, controller)
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`
    const log = this.init.logger.child({ remote })
    socket.setTimeout(this.init.idleTimeout, () => { socket.destroy(new TimeoutError('Connection idle')) })
    socket.on('error', err => { log.debug({ err: errorMessage(err) }, 'socket error') })
    socket.on('close', () => {
      controller.abort(new TimeoutError('Connection closed'))
      this.sockets.delete(socket)
      this.busy.delete(socket)
    })
    this.serve(socket, made.reader, controller.signal, log).catch(err => {
      log.debug({ err: errorMessage(err) }, 'connection ended with error')
      socket.destroy()
    })
  }

  private async serve (socket: Socket, reader: FrameReader, signal: AbortSignal, log: Logger): Promise<void> {
    const writer = new FrameWriter(socket)
    if (!await this.handshake(socket, reader, writer, log)) return

    for (;;) {
      let frame
      try {
        frame = await reader.readFrame(signal)
      } catch (err) {
        // Framing is lost (bad magic, oversize header, unknown type, truncated): say why, then close.
        await this.refuse(writer, err, log)
        socket.end()
        return
      }
      if (frame === undefined) { socket.end(); return }
      this.busy.add(socket)
      const started = performance.now()
      try {
        const handler = handlers.get(frame.type)
        if (handler === undefined) {
          await reader.skip(frame.bodyLength, signal)
          throw new UnknownOperationError(`Unexpected frame ${opName(frame.type)} from a client`)
        }
        await handler({ frame, reader, writer, store: this.init.store, identity: this.init.identity, version: this.init.version, pointerTtlMs: this.init.pointerTtlMs, log, signal })
        log.trace({ op: opName(frame.type), ms: performance.now() - started }, 'request done')
      } catch (err) {
        if (!reader.inSync || !(err instanceof BatchainError) || socket.destroyed) {
          // Mid-body or unexpected failure: the stream position is unknown, so this connection ends here.
          await this.refuse(writer, err, log)
          socket.destroy()
          return
        }
        await this.refuse(writer, err, log)
      } finally {
        this.busy.delete(socket)
      }
      if (this.stopping !== undefined) { socket.end(); return }
    }
  }

  private async handshake (socket: Socket, reader: FrameReader, writer: FrameWriter, log: Logger): Promise<boolean> {
    const timer = setTimeout(() => { socket.destroy(new TimeoutError('Handshake timed out')) }, this.init.handshakeTimeout)
    try {
      const frame = await reader.readFrame()
      if (frame === undefined) return false
      if (frame.type !== Op.Hello) throw new HandshakeError(`Expected HELLO, got ${opName(frame.type)}`)
      if (frame.bodyLength !== 0) throw new HandshakeError('HELLO carries no body')
      const hello = parseHeader(Op.Hello, frame.header)
      if (hello.version !== PROTOCOL_VERSION) {
        throw new HandshakeError(`Protocol version ${hello.version} is not supported (this node speaks ${PROTOCOL_VERSION})`)
      }
      const { identity } = this.init
      await writer.writeFrame(Res.Hello, {
        version: PROTOCOL_VERSION,
        nodeId: identity.id,
        publicKey: identity.publicKey,
        signature: sign(identity, helloSigningBytes(hello.nonce)),
        agent: `batchain/${this.init.version}`
      })
      return true
    } catch (err) {
      await this.refuse(writer, err, log)
      socket.end()
      return false
    } finally {
      clearTimeout(timer)
    }
  }

  /** Sends an ERROR frame with the stable code; never throws (the peer may be gone). */
  private async refuse (writer: FrameWriter, err: unknown, log: Logger): Promise<void> {
    const code = errorCode(err)
    const message = err instanceof BatchainError ? err.message : 'Internal error'
    if (!(err instanceof BatchainError)) log.error({ err }, 'request failed unexpectedly')
    else log.debug({ code, message }, 'request refused')
    try { await writer.writeError(code, message) } catch { /* peer gone */ }
  }
}

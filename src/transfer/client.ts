import { deadlineSignal, type AbortOptions } from '../core/abort.js'
import { DEFAULT_REQUEST_TIMEOUT, MAX_AUDIT_LEAVES, second } from '../core/constants.js'
import { InvalidArgumentError, InvalidSignatureError, MalformedFrameError, PieceTooLargeError, RemoteError } from '../core/errors.js'
import type { NodeId, PieceId } from '../core/ids.js'
import { sign, type Identity } from '../crypto/keys.js'
import { checkPointer, type PointerRecord } from '../crypto/pointer.js'
import { MAX_HAS_IDS, MAX_HAS_POINTER_IDS, Op, Res, deleteSigningBytes, parseHeader, putSigningBytes, type FrameLimits, type HeaderOf } from '../protocol/index.js'
import { formatContact, type Contact } from './contact.js'
import { PeerConnection } from './connection.js'

export interface PieceClientInit {
  /** The uploader's key: recorded as owner on put, required for delete. */
  identity?: Identity
  /** Deadline for one small request, including connecting. @defaultValue DEFAULT_REQUEST_TIMEOUT */
  requestTimeout?: number
  /**
   * Deadline for a request that moves a piece, as a floor plus time per byte:
   * a 2 MiB piece gets `transferTimeout + size / minRate` ms.
   * @defaultValue 30 s floor, 1 MB/s minimum rate
   */
  transferTimeout?: number
  minRate?: number
  /** Idle connections kept per node for reuse. @defaultValue 4 */
  maxIdlePerPeer?: number
  limits?: Partial<FrameLimits>
  agent?: string
}

export type StatResult = HeaderOf<typeof Res.Stat>
export interface AuditResult { leafCount: number, leaves: Buffer[], proofs: Buffer[][] }

/**
 * Client for the piece protocol with a connection pool per node. Every method
 * takes an AbortSignal and has a default deadline, so no call waits forever; a
 * failed or aborted request destroys its connection (its framing is unknown)
 * while a clean remote error keeps it for reuse.
 */
export class PieceClient {
  private readonly init: Required<Omit<PieceClientInit, 'identity' | 'limits'>> & Pick<PieceClientInit, 'identity' | 'limits'>
  private readonly idle = new Map<string, PeerConnection[]>()
  private closed = false

  constructor (init: PieceClientInit = {}) {
    this.init = {
      requestTimeout: DEFAULT_REQUEST_TIMEOUT,
      transferTimeout: 30 * second,
      minRate: 1_000_000,
      maxIdlePerPeer: 4,
      agent: 'batchain-client',
      ...init
    }
  }

  /**
   * Stores a piece held in memory. Resolves created=false when the node already had it (no bytes
   * sent). The piece is recorded under this client's identity, or under `grant`: an owner's
   * signature over putSigningBytes(id, size), made at upload and kept in the manifest, which lets
   * a repair worker re-store a piece for its owner without holding the owner's key.
   */
  async put (contact: Contact, id: PieceId, data: Uint8Array, options: AbortOptions & { grant?: PutGrant } = {}): Promise<PutResult> {
    const grant = options.grant ?? this.grantFor(id, data.length)
    const header = { id, size: data.length, owner: grant.owner, signature: grant.signature }
    return await this.withConnection(contact, this.transferDeadline(data.length), options, async (conn, signal) => {
      await conn.writer.writeFrame(Op.Put, header, 0, signal)
      const answer = await conn.reader.readFrame(signal)
      if (answer?.type === Res.Put) return putResult(id, conn.nodeId, parseHeader(Res.Put, answer.header))
      if (answer?.type !== Op.Continue) {
        // Hand back to response() for the error/unexpected-frame handling.
        throw await this.unexpected(conn, answer, Op.Continue)
      }
      await conn.writer.writeFrameWithBody(Op.Data, {}, data, signal)
      const done = await conn.response(Res.Put, signal)
      return putResult(id, conn.nodeId, parseHeader(Res.Put, done.header))
    })
  }

  /** This client's own grant to store piece `id` of `size` bytes (its identity's signature). */
  grantFor (id: PieceId, size: number): PutGrant {
    const identity = this.requireIdentity('put')
    return { owner: identity.publicKey, signature: sign(identity, putSigningBytes(id, size)) }
  }

  /**
   * Fetches a piece (or a range) into memory; refuses bodies larger than `maxSize`. With
   * `into`, a body that fits is read into that buffer (no allocation); `data` is then a view
   * of it, and nothing writes into it once the call has settled.
   */
  async get (contact: Contact, id: PieceId, options: AbortOptions & { offset?: number, length?: number, maxSize?: number, into?: Buffer } = {}): Promise<{ data: Buffer, size: number, nodeId: NodeId }> {
    const maxSize = options.maxSize ?? Number.MAX_SAFE_INTEGER
    return await this.withConnection(contact, this.transferDeadline(options.length ?? maxSize), options, async (conn, signal) => {
      await conn.writer.writeFrame(Op.Get, { id, offset: options.offset, length: options.length }, 0, signal)
      const frame = await conn.response(Res.Get, signal)
      const h = parseHeader(Res.Get, frame.header)
      if (frame.bodyLength !== h.length) throw new MalformedFrameError('GET response body length differs from its header')
      if (frame.bodyLength > maxSize) {
        conn.close()
        throw new PieceTooLargeError(`Node sent ${frame.bodyLength} bytes, expected at most ${maxSize}`)
      }
      const into = options.into
      const data = into !== undefined && into.length >= frame.bodyLength
        ? await conn.reader.collectInto(frame.bodyLength, into, signal)
        : await conn.reader.collect(frame.bodyLength, signal)
      return { data, size: h.size, nodeId: conn.nodeId }
    })
  }

  /** Challenges leaves of a piece; the caller verifies the proofs against the piece id. */
  async audit (contact: Contact, id: PieceId, indices: readonly number[], options: AbortOptions = {}): Promise<AuditResult & { nodeId: NodeId }> {
    if (indices.length === 0 || indices.length > MAX_AUDIT_LEAVES) throw new InvalidArgumentError(`Audit needs 1..${MAX_AUDIT_LEAVES} leaf indices`)
    return await this.withConnection(contact, this.init.requestTimeout, options, async (conn, signal) => {
      await conn.writer.writeFrame(Op.Audit, { id, indices: [...indices] }, 0, signal)
      const frame = await conn.response(Res.Audit, signal)
      const h = parseHeader(Res.Audit, frame.header)
      const total = h.leafLengths.reduce((a, b) => a + b, 0)
      if (total !== frame.bodyLength || h.leafLengths.length !== indices.length || h.proofs.length !== indices.length) {
        await conn.reader.skip(frame.bodyLength, signal)
        throw new MalformedFrameError('AUDIT response does not match the request')
      }
      const body = await conn.reader.collect(frame.bodyLength, signal)
      const leaves: Buffer[] = []
      let at = 0
      for (const len of h.leafLengths) { leaves.push(body.subarray(at, at + len)); at += len }
      return { leafCount: h.leafCount, leaves, proofs: h.proofs.map(p => p.map(b => Buffer.from(b))), nodeId: conn.nodeId }
    })
  }

  /** Releases this owner's hold on a piece (signed; the node deletes the bytes when no owner is left). */
  async delete (contact: Contact & { nodeId: NodeId }, id: PieceId, options: AbortOptions = {}): Promise<{ deleted: boolean }> {
    const identity = this.requireIdentity('delete')
    const timestamp = Date.now()
    const header = {
      id,
      owner: identity.publicKey,
      timestamp,
      signature: sign(identity, deleteSigningBytes(contact.nodeId, id, timestamp))
    }
    return await this.withConnection(contact, this.init.requestTimeout, options, async (conn, signal) => {
      await conn.writer.writeFrame(Op.Delete, header, 0, signal)
      return parseHeader(Res.Delete, (await conn.response(Res.Delete, signal)).header)
    })
  }

  async stat (contact: Contact, options: AbortOptions = {}): Promise<StatResult> {
    return await this.withConnection(contact, this.init.requestTimeout, options, async (conn, signal) => {
      await conn.writer.writeFrame(Op.Stat, {}, 0, signal)
      return parseHeader(Res.Stat, (await conn.response(Res.Stat, signal)).header)
    })
  }

  /** Round-trip time in ms and the node's id. */
  async ping (contact: Contact, options: AbortOptions = {}): Promise<{ rtt: number, nodeId: NodeId }> {
    return await this.withConnection(contact, this.init.requestTimeout, options, async (conn, signal) => {
      const started = performance.now()
      await conn.writer.writeFrame(Op.Ping, {}, 0, signal)
      await conn.response(Res.Ping, signal)
      return { rtt: performance.now() - started, nodeId: conn.nodeId }
    })
  }

  /**
   * Which of `ids` the node holds (batched by MAX_HAS_IDS). With `pointers`, also the node's freshly
   * signed pointer record for each piece it holds (batched by MAX_HAS_POINTER_IDS; undefined where it
   * holds none, or when the node sends no records). Each record is checked here: one that is not
   * this node's, for that piece, validly signed, is a protocol violation (InvalidSignatureError).
   */
  async has (contact: Contact, ids: readonly PieceId[], options: AbortOptions & { pointers?: boolean } = {}): Promise<{ have: boolean[], nodeId: NodeId, pointers?: Array<PointerRecord | undefined> }> {
    const have: boolean[] = []
    const pointers: Array<PointerRecord | undefined> = []
    let nodeId: NodeId | undefined
    const step = options.pointers === true ? MAX_HAS_POINTER_IDS : MAX_HAS_IDS
    for (let i = 0; i < ids.length; i += step) {
      const batch = ids.slice(i, i + step)
      const result = await this.withConnection(contact, this.init.requestTimeout, options, async (conn, signal) => {
        await conn.writer.writeFrame(Op.Has, options.pointers === true ? { ids: batch, pointers: true } : { ids: batch }, 0, signal)
        const h = parseHeader(Res.Has, (await conn.response(Res.Has, signal)).header)
        if (h.have.length !== batch.length) throw new MalformedFrameError('HAS response length differs from the request')
        if (h.pointers !== undefined && h.pointers.length !== batch.length) throw new MalformedFrameError('HAS response has a pointer list of another length than the request')
        return { have: h.have, nodeId: conn.nodeId, pointers: h.pointers?.map((p, j) => p === null ? undefined : checkedPointer(p, batch[j] as PieceId, conn.nodeId)) }
      })
      have.push(...result.have)
      if (options.pointers === true) pointers.push(...(result.pointers ?? batch.map(() => undefined)))
      nodeId = result.nodeId
    }
    if (nodeId === undefined) nodeId = (await this.ping(contact, options)).nodeId
    return options.pointers === true ? { have, nodeId, pointers } : { have, nodeId }
  }

  /** Closes every pooled connection. */
  close (): void {
    this.closed = true
    for (const conns of this.idle.values()) for (const c of conns) c.close()
    this.idle.clear()
  }

  private transferDeadline (bytes: number): number {
    const perByte = Number.isFinite(bytes) && bytes < Number.MAX_SAFE_INTEGER ? (bytes / this.init.minRate) * 1000 : 10 * 60 * second
    return this.init.transferTimeout + perByte
  }

  private requireIdentity (op: string): Identity {
    if (this.init.identity === undefined) throw new InvalidArgumentError(`A client identity is needed to ${op}`)
    return this.init.identity
  }

  private async unexpected (conn: PeerConnection, frame: { type: number, header: Record<string, unknown> } | undefined, wanted: number): Promise<Error> {
    try {
      if (frame === undefined) return await conn.response(wanted).then(() => new MalformedFrameError('unreachable'))
      if (frame.type === Op.Error) {
        const h = parseHeader(Op.Error, frame.header)
        return new RemoteError(h.code, h.message)
      }
      return new MalformedFrameError(`Unexpected frame type ${frame.type}`)
    } catch (err) {
      return err as Error
    }
  }

  private async withConnection<T> (contact: Contact, timeoutMs: number, options: AbortOptions, fn: (conn: PeerConnection, signal: AbortSignal) => Promise<T>): Promise<T> {
    const { signal, clear } = deadlineSignal(options.signal, timeoutMs)
    let conn: PeerConnection | undefined
    try {
      conn = this.takeIdle(contact) ?? await PeerConnection.open(contact, { signal, limits: this.init.limits, agent: this.init.agent })
      const result = await fn(conn, signal)
      this.release(conn)
      return result
    } catch (err) {
      if (conn !== undefined) {
        // A clean remote error leaves the stream between frames: the connection can be reused.
        if (err instanceof RemoteError && conn.usable) this.release(conn)
        else conn.close()
      }
      throw err
    } finally {
      clear()
    }
  }

  private key (contact: Contact): string {
    return `${formatContact(contact)}/${contact.nodeId ?? ''}`
  }

  private takeIdle (contact: Contact): PeerConnection | undefined {
    const list = this.idle.get(this.key(contact))
    while (list !== undefined && list.length > 0) {
      const conn = list.pop() as PeerConnection
      if (conn.usable) return conn
      conn.close()
    }
    return undefined
  }

  private release (conn: PeerConnection): void {
    if (this.closed || !conn.usable) { conn.close(); return }
    const key = this.key(conn.contact)
    const list = this.idle.get(key) ?? []
    if (list.length >= this.init.maxIdlePerPeer) { conn.close(); return }
    list.push(conn)
    this.idle.set(key, list)
  }
}

/** An owner's authorisation to store one piece: raw Ed25519 public key and signature over putSigningBytes(id, size). */
export interface PutGrant { owner: Uint8Array, signature: Uint8Array }

export interface PutResult {
  created: boolean
  nodeId: NodeId
  /** The node's signed pointer record for the piece, checked here; absent when the node sends none. */
  pointer?: PointerRecord
}

function putResult (id: PieceId, nodeId: NodeId, header: HeaderOf<typeof Res.Put>): PutResult {
  if (header.pointer === undefined) return { created: header.created, nodeId }
  return { created: header.created, nodeId, pointer: checkedPointer(header.pointer, id, nodeId) }
}

/** A pointer record that is not this node's, for this piece, validly signed, is a protocol violation. */
function checkedPointer (record: unknown, id: PieceId, nodeId: NodeId): PointerRecord {
  const pointer = record as PointerRecord
  const check = checkPointer(pointer)
  if (!check.ok || pointer.pieceId !== id || pointer.holder !== nodeId) {
    throw new InvalidSignatureError(`The node's pointer record for piece ${id} is invalid: ${check.ok ? 'not for this piece or node' : check.reason}`, { details: { node: nodeId } })
  }
  return pointer
}

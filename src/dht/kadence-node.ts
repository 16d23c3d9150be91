import { randomUUID } from 'node:crypto'
import type { RemoteInfo } from 'node:dgram'
import { isIP } from 'node:net'
import KademliaNode from '@kadenceproject/kadence/lib/node-kademlia.js'
import type { KadErrorMiddleware, KadMiddleware, KadRequest, KadResponse, KadStorage } from '@kadenceproject/kadence/lib/node-kademlia.js'
import UDPTransport from '@kadenceproject/kadence/lib/transport-udp.js'
import { abortReason } from '../core/abort.js'
import { DhtRpcError, DhtStoppedError, DhtTimeoutError } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import { bucketIndex, compareDistance, KEY_BITS, keyBytes } from './keys.js'
import type { DhtKey, DhtPeer } from './types.js'
import { contactBinds, envelopeEncoder, MAX_DATAGRAM, parseEnvelope, toPeer, type Contact, type Envelope, type KadContactInfo } from './wire.js'

/**
 * A kadence KademliaNode on kadence's UDP transport, hardened where kadence is fragile.
 *
 * Transport: UDP. A lookup is a burst of small request/answer pairs to many different peers; over
 * UDP that is one datagram each way with no connection setup, no per-peer socket and no HTTP
 * parsing, and a node holds one file descriptor however many peers it talks to — which is what lets
 * 1000 nodes run in one process for the benchmark. Answers stay far below the datagram limit
 * (20 contacts ≈ 3 KB; pointer batches are capped by count).
 *
 * What is kept from kadence: the UDP transport's socket, the routing table and its buckets, the
 * middleware stack that dispatches RPCs (`use`/`receive`), and the contact update rule (a full
 * bucket pings its least recently seen contact and keeps it if it answers). What is replaced, and why:
 * - receiving: kadence pipes every datagram through stream objects and trusts its shape; a datagram
 *   without the IDENTIFY part, or a JSON object instead of an array, throws inside a socket event
 *   and kills the process. Here each datagram is parsed once and validated (wire.ts); garbage gets a
 *   JSON-RPC error back and the node carries on.
 * - sending: kadence writes through a Writable stream (one datagram in flight at a time, and one
 *   failed send — say an unresolvable hostname — destroys the stream and the node with it) and times
 *   requests out by a 10 s sweep on a timer nobody can stop. Here each request has its own deadline
 *   and AbortSignal and datagrams go straight to the socket.
 * - answers go back to the address the request came from, not to the address the sender claims
 *   (kadence's choice would let anyone aim our answers at a third party).
 * - contacts: a contact enters the routing table only when its key binds to the public key it
 *   carries, when the message came from the address it claims, and never when its role is 'client'
 *   (clients query but are not routed to).
 * - FIND_NODE answers with the K closest contacts by exact XOR order; kadence walks buckets by
 *   index, which is not XOR order for keys in other buckets, and could leave true closest peers out.
 * - no timers of kadence's own (refresh, replicate, expire, timeout sweep): they cannot be stopped,
 *   and the adapter schedules what it needs (dht.ts).
 * STORE and FIND_VALUE are not served (kadence would keep any value for anyone): records go through
 * our own signed-record RPCs (plugin.ts).
 */

export interface KadNodeOptions {
  key: DhtKey
  /** Raw Ed25519 public key, base64url; carried in every message so peers can check the key binding. */
  publicKey: string
  role: KadContactInfo['role']
  /** Address to bind. */
  host: string
  /** 0 picks a free port. */
  port: number
  /** Address peers should send to; defaults to `host` (a wildcard host announces 127.0.0.1). */
  announceHost?: string
  rpcTimeoutMs: number
  logger: Logger
}

/** Where to send a request: a known peer (its key is checked in the answer) or a bare address. */
export interface RpcTarget {
  key?: DhtKey
  host: string
  port: number
}

export interface RpcOptions {
  signal?: AbortSignal
  /** @defaultValue the node's rpcTimeoutMs */
  timeoutMs?: number
}

export interface RpcAnswer {
  result: unknown
  /** The node that answered, as it identified itself. */
  sender: Contact
}

interface Inflight {
  target: RpcTarget
  settle: (envelope: Envelope | Error) => void
}

/** kadence requires a levelup-like store; nothing is ever kept in it (STORE is not served). */
const noStorage: KadStorage = {
  get: (...args: unknown[]) => { (args.at(-1) as (err: Error) => void)(new Error('not found')) },
  put: (...args: unknown[]) => { (args.at(-1) as (err: Error) => void)(new Error('not supported')) },
  del: (...args: unknown[]) => { (args.at(-1) as (err: Error | null) => void)(null) },
  createReadStream: () => { throw new Error('not supported') }
}

export class BatKadNode extends KademliaNode<KadContactInfo> {
  private readonly inflight = new Map<string, Inflight>()
  private readonly log: Logger
  private readonly rpcTimeoutMs: number
  private readonly udp: UDPTransport
  private closed = false
  /** Encodes a message with our IDENTIFY part (set once the port is known). */
  private encode: (message: object) => Buffer = () => { throw new DhtStoppedError('not started') }
  /** Datagrams that failed validation (for tests and logs). */
  malformed = 0

  private constructor (options: KadNodeOptions, transport: UDPTransport) {
    const contact: KadContactInfo = { hostname: options.announceHost ?? options.host, port: options.port, pub: options.publicKey, role: options.role }
    const log = options.logger
    super({
      identity: keyBytes(options.key),
      contact,
      transport,
      storage: noStorage,
      logger: {
        debug: (...a: unknown[]) => { log.debug({ kadence: a.map(String).join(' ') }) },
        info: (...a: unknown[]) => { log.debug({ kadence: a.map(String).join(' ') }) },
        warn: (...a: unknown[]) => { log.debug({ kadence: a.map(String).join(' ') }) },
        error: (...a: unknown[]) => { log.warn({ kadence: a.map(String).join(' ') }) }
      }
    })
    this.udp = transport
    this.log = log
    this.rpcTimeoutMs = options.rpcTimeoutMs
    this.handle('PING', (_req, res) => { res.send([]) })
    this.handle('FIND_NODE', (req, res) => {
      const params = req.params
      const key = Array.isArray(params) ? params[0] : undefined
      if (typeof key !== 'string' || !/^[0-9a-f]{40}$/.test(key)) {
        res.error('Invalid params: FIND_NODE takes [key: 40 hex chars]', -32602, { code: 'BATCHAIN_ERR_DHT_BAD_REQUEST' })
        return
      }
      res.send(this.closestContacts(key as DhtKey, undefined, req.contact[0]))
    })
  }

  /** Creates the node and binds its socket. */
  static async start (options: KadNodeOptions): Promise<BatKadNode> {
    const type = isIP(options.host) === 6 ? 'udp6' : 'udp4'
    const transport = new UDPTransport({ type, allowLoopbackAddresses: true })
    const wildcard = options.host === '0.0.0.0' || options.host === '::'
    const node = new BatKadNode({ ...options, announceHost: options.announceHost ?? (wildcard ? '127.0.0.1' : options.host) }, transport)
    // kadence's transport re-emits socket errors on itself; without a listener there, a port in
    // use would crash the process instead of failing this start with a clear error.
    const onTransportError = (err: Error): void => { node.log.warn({ err: err.message }, 'DHT transport error') }
    transport.on('error', onTransportError)
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => { reject(err) }
      transport.socket.once('error', onError)
      transport.listen(options.port, options.host, () => {
        transport.socket.off('error', onError)
        resolve()
      })
    })
    node.contact.port = transport.socket.address().port
    node.encode = envelopeEncoder(node.self())
    transport.socket.on('message', (buffer: Buffer, rinfo: RemoteInfo) => { node.onDatagram(buffer, rinfo) })
    transport.socket.on('error', (err: Error) => { node.log.warn({ err: err.message }, 'DHT socket error') })
    // The error middlewares kadence's listen() would add: unknown methods and failed handlers answer
    // with errors. kadence tells error middlewares by their arity, so all four parameters must be declared.
    const onError: KadErrorMiddleware<KadContactInfo> = (err, _req, res, _next) => {
      if (err === null || err === undefined) res.error('Method not found', -32601, { code: 'BATCHAIN_ERR_DHT_BAD_REQUEST' })
      else res.error(err.message, -32603, { code: 'BATCHAIN_ERR_DHT_RPC' })
    }
    node.use('*', onError)
    return node
  }

  /** kadence's constructor calls this to attach its stream pipeline and its unstoppable timeout sweep; start() wires the socket instead. */
  override _init (): void {}

  /** The contact this node announces in every message. */
  self (): Contact {
    return [this.identity.toString('hex') as DhtKey, this.contact]
  }

  get key (): DhtKey { return this.identity.toString('hex') as DhtKey }

  /** Adds a contact unless it is a client, is ourselves, or its key does not bind to its public key. */
  override _updateContact (identity: string, contact: KadContactInfo): void {
    if (this.closed || contact.role === 'client' || identity === this.key) return
    if (!contactBinds(identity, contact)) {
      this.log.debug({ identity }, 'contact key does not match its public key; not added')
      return
    }
    super._updateContact(identity, contact)
  }

  /** Every contact in the routing table. */
  contacts (): Contact[] {
    const all: Contact[] = []
    for (const bucket of this.router.values()) {
      for (const [key, info] of bucket) all.push([key as DhtKey, info])
    }
    return all
  }

  /**
   * The routing table's contacts closest to `key`, exact XOR order; `exclude` (the asker) left out.
   * Runs for every FIND_NODE served, so it sorts on the XOR of the first 32 bits (plain numbers) and
   * compares whole keys only to break ties.
   */
  closestContacts (key: DhtKey, count = 20, exclude?: string): Contact[] {
    // Buckets are ordered by distance to `key` except around the key's own bucket b: every contact of
    // bucket b is closer than every contact of the buckets below b (together, in any order among
    // them), which are closer than bucket b + 1, then b + 2, … So only a few small groups are sorted.
    const b = bucketIndex(this.key, key)
    const target = keyBytes(key)
    const out: Contact[] = []
    const takeSorted = (group: Contact[]): void => {
      if (group.length > 1) {
        const bytes = new Map(group.map(c => [c[0], keyBytes(c[0])]))
        group.sort((x, y) => compareDistance(bytes.get(x[0])!, bytes.get(y[0])!, target))
      }
      for (const contact of group) {
        if (out.length >= count) return
        out.push(contact)
      }
    }
    const bucketContacts = (index: number): Contact[] => {
      const bucket = this.router.get(index)
      const list: Contact[] = []
      if (bucket !== undefined) for (const [id, info] of bucket) if (id !== exclude) list.push([id as DhtKey, info])
      return list
    }
    if (b >= 0) takeSorted(bucketContacts(b))
    if (out.length < count) {
      const below: Contact[] = []
      for (let i = 0; i < b; i++) below.push(...bucketContacts(i))
      takeSorted(below)
    }
    for (let i = Math.max(b + 1, 0); i < KEY_BITS && out.length < count; i++) takeSorted(bucketContacts(i))
    return out
  }

  /** Removes a peer from the routing table (it stopped answering). */
  evict (key: DhtKey): boolean {
    const had = this.router.getContactByNodeId(key) !== undefined
    if (had) this.router.removeContactByNodeId(key)
    this._pings.delete(key)
    return had
  }

  /**
   * Sends one request and waits for its answer. Rejects with DhtTimeoutError after the deadline,
   * DhtRpcError when the peer answered with an error or when another node than `target.key`
   * answered, the signal's reason when aborted, DhtStoppedError after close().
   */
  async request (method: string, params: unknown, target: RpcTarget, options: RpcOptions = {}): Promise<RpcAnswer> {
    if (this.closed) throw new DhtStoppedError()
    const signal = options.signal
    if (signal?.aborted === true) throw abortReason(signal)
    const id = randomUUID()
    const buffer = this.encode({ jsonrpc: '2.0', id, method, params })
    if (buffer.length > MAX_DATAGRAM) throw new DhtRpcError(`${method} request of ${buffer.length} bytes exceeds one datagram`)
    const timeoutMs = options.timeoutMs ?? this.rpcTimeoutMs
    return await new Promise<RpcAnswer>((resolve, reject) => {
      const onAbort = (): void => { finish(abortReason(signal!)) }
      const finish = (outcome: Envelope | Error): void => {
        if (!this.inflight.delete(id)) return
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        if (outcome instanceof Error) { reject(outcome); return }
        const [senderKey] = outcome.sender
        if (target.key !== undefined && senderKey !== target.key) {
          reject(new DhtRpcError(`another node answered at ${target.host}:${target.port}`, { details: { expected: target.key, got: senderKey } }))
          return
        }
        if (outcome.kind === 'error') {
          const data = outcome.message.error.data as { code?: unknown } | undefined
          reject(new DhtRpcError(`${method} refused by ${target.host}:${target.port}: ${outcome.message.error.message}`, {
            details: { rpcCode: outcome.message.error.code, remoteCode: typeof data?.code === 'string' ? data.code : undefined }
          }))
          return
        }
        if (outcome.kind === 'result') resolve({ result: outcome.message.result, sender: outcome.sender })
      }
      this.inflight.set(id, { target, settle: finish })
      // The deadline is checked once more after the next poll phase: when the event loop was
      // blocked past it (a long synchronous task), the answer may already sit in the socket, and
      // timers run before I/O. Without this every request in flight would time out at once and
      // every peer that answered would be evicted.
      const timer = setTimeout(() => {
        setImmediate(() => { finish(new DhtTimeoutError(`${method} to ${target.host}:${target.port} timed out after ${timeoutMs} ms`)) })
      }, timeoutMs)
      signal?.addEventListener('abort', onAbort, { once: true })
      this.udp.socket.send(buffer, target.port, target.host, (err) => {
        if (err !== null && err !== undefined) finish(new DhtRpcError(`cannot send ${method} to ${target.host}:${target.port}: ${err.message}`, { cause: err }))
      })
    })
  }

  /** kadence's callback-style send (used by its ping, which its contact update rule calls). */
  override send (method: string, params: unknown, target: [string, KadContactInfo], handler: (err: Error | null, result?: unknown) => void = () => {}): void {
    const [key, info] = target
    this.request(method, params, { key: key as DhtKey, host: info.hostname, port: info.port })
      .then(answer => { handler(null, answer.result) }, (err: Error) => { handler(err) })
  }

  private onDatagram (buffer: Buffer, rinfo: RemoteInfo): void {
    if (this.closed) return
    const parsed = parseEnvelope(buffer)
    if (!parsed.ok) {
      this.malformed++
      this.log.debug({ from: `${rinfo.address}:${rinfo.port}`, reason: parsed.reason }, 'malformed DHT datagram')
      // Never answer something that looks like an answer: two nodes would bounce errors forever.
      if (parsed.isRequest) this.reply(rinfo, { jsonrpc: '2.0', id: parsed.id, error: { code: parsed.code, message: parsed.reason, data: { code: 'BATCHAIN_ERR_DHT_BAD_REQUEST' } } })
      return
    }
    const { envelope } = parsed
    // A contact enters the routing table only from the address it claims: otherwise anyone could
    // make every node aim its traffic at a third party. A node that speaks from elsewhere (behind a
    // NAT, say) can still query, like a client.
    const [, claimed] = envelope.sender
    const fromClaimed = claimed.hostname === rinfo.address && claimed.port === rinfo.port
    if (envelope.kind !== 'request') {
      const pending = this.inflight.get(String(envelope.message.id))
      if (pending === undefined) return // late, duplicate or unsolicited
      if (fromClaimed && (envelope.sender[0] === pending.target.key || pending.target.key === undefined)) this._updateContact(...envelope.sender)
      pending.settle(envelope)
      return
    }
    if (fromClaimed) this._updateContact(...envelope.sender)
    const { message } = envelope
    let answered = false
    const response: KadResponse = {
      send: (result: unknown) => {
        if (answered) return
        answered = true
        this.reply(rinfo, { jsonrpc: '2.0', id: message.id, result })
      },
      error: (msg: string, code = -32000, data?: unknown) => {
        if (answered) return
        answered = true
        this.reply(rinfo, { jsonrpc: '2.0', id: message.id, error: data === undefined ? { code, message: msg } : { code, message: msg, data } })
      }
    }
    const request: KadRequest<KadContactInfo> = { id: message.id, method: message.method, params: message.params, contact: envelope.sender }
    try {
      this.receive(request, response)
    } catch (err) {
      response.error(`Internal error: ${(err as Error).message}`, -32603, { code: 'BATCHAIN_ERR_DHT_RPC' })
    }
  }

  private reply (rinfo: RemoteInfo, message: object): void {
    if (this.closed) return
    let buffer = this.encode(message)
    if (buffer.length > MAX_DATAGRAM) {
      const id = (message as { id?: unknown }).id ?? null
      buffer = this.encode({ jsonrpc: '2.0', id, error: { code: -32603, message: 'Answer too large for one datagram', data: { code: 'BATCHAIN_ERR_DHT_RPC' } } })
    }
    this.udp.socket.send(buffer, rinfo.port, rinfo.address, (err) => {
      if (err !== null && err !== undefined) this.log.debug({ err: err.message, to: `${rinfo.address}:${rinfo.port}` }, 'DHT answer not sent')
    })
  }

  /** Registers an RPC handler (see plugin.ts). */
  handle (method: string, middleware: KadMiddleware<KadContactInfo>): void {
    this.use(method, middleware)
  }

  /** Fails every request in flight and closes the socket. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this._updateContactQueue.kill()
    for (const pending of [...this.inflight.values()]) pending.settle(new DhtStoppedError())
    await new Promise<void>(resolve => {
      try {
        this.udp.socket.close(() => { resolve() })
      } catch {
        resolve() // already closed
      }
    })
    this.udp.socket.removeAllListeners('message')
  }

  peersAsDht (): DhtPeer[] {
    return this.contacts().map(toPeer)
  }
}

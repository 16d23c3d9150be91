/**
 * The part of @kadenceproject/kadence 5.0.4 that src/dht uses, typed by hand (the package ships no
 * types). Deep imports of lib/ files on purpose: the package's index.js loads every plugin eagerly
 * (onion → hsv3 → granax, traverse → diglet, …), none of which BatChain uses.
 * Only src/dht imports these modules.
 */

declare module '@kadenceproject/kadence/lib/constants.js' {
  /** Bucket size and the number of closest peers a lookup returns. */
  export const K: number
  /** Lookup parallelism. */
  export const ALPHA: number
  /** Key length in bits. */
  export const B: number
}

declare module '@kadenceproject/kadence/lib/transport-udp.js' {
  import type { Socket } from 'node:dgram'
  import type { Duplex } from 'node:stream'

  export default class UDPTransport extends Duplex {
    constructor (options?: { type?: 'udp4' | 'udp6', reuseAddr?: boolean, allowLoopbackAddresses?: boolean })
    readonly socket: Socket
    /** kadence's contact check: hostname is an IP literal (or public host) and port > 0. */
    _validate (contact: [string, { hostname: string, port: number }]): boolean
    listen (port: number, host: string, callback?: () => void): void
  }
}

declare module '@kadenceproject/kadence/lib/node-kademlia.js' {
  import type { EventEmitter } from 'node:events'

  /** kadence's contact tuple: [identity hex, contact info]. */
  export type KadContact<C> = [string, C]

  export interface KadRequest<C> {
    id: string | number
    method: string
    params: unknown
    contact: KadContact<C>
  }

  export interface KadResponse {
    send: (result: unknown) => void
    error: (message: string, code?: number, data?: unknown) => void
  }

  export type KadMiddleware<C> = (request: KadRequest<C>, response: KadResponse, next: (err?: Error | null) => void) => void
  /** Four parameters: an error handler (kadence tells them apart by arity). */
  export type KadErrorMiddleware<C> = (err: Error | null | undefined, request: KadRequest<C>, response: KadResponse, next: (err?: Error | null) => void) => void

  export interface KadPending {
    handler: (err: Error | null, result?: unknown, ...rest: unknown[]) => void
    timestamp: number
  }

  /** A bucket: a Map of identity hex → contact, least recently seen first. */
  export interface KadBucket<C> extends Map<string, C> {
    readonly length: number
    readonly head: KadContact<C> | undefined
  }

  export interface KadRoutingTable<C> extends Map<number, KadBucket<C>> {
    readonly identity: Buffer
    readonly events: EventEmitter
    indexOf (key: string): number
    getContactByNodeId (key: string): C | undefined
    removeContactByNodeId (key: string): boolean
    addContactByNodeId (key: string, contact: C): [number, KadBucket<C>, number, C]
  }

  export interface KadStorage {
    get: (...args: unknown[]) => void
    put: (...args: unknown[]) => void
    del: (...args: unknown[]) => void
    createReadStream: (...args: unknown[]) => unknown
  }

  export interface KadLogger {
    debug: (...args: unknown[]) => void
    info: (...args: unknown[]) => void
    warn: (...args: unknown[]) => void
    error: (...args: unknown[]) => void
  }

  export interface KademliaNodeOptions<C> {
    identity: Buffer
    contact: C
    transport: unknown
    storage: KadStorage
    logger: KadLogger
  }

  export default class KademliaNode<C = unknown> extends EventEmitter {
    constructor (options: KademliaNodeOptions<C>)
    readonly identity: Buffer
    contact: C
    readonly router: KadRoutingTable<C>
    readonly transport: unknown
    logger: KadLogger
    _pending: Map<string, KadPending>
    _pings: Map<string, { timestamp: number, responded: boolean }>
    /** async.queue (concurrency 1) that applies contact updates. */
    _updateContactQueue: { kill: () => void }
    /** Called once by the constructor to wire the transport and start kadence's timeout sweep. */
    _init (): void
    /** Queues a contact for the routing table (pings the bucket head when the bucket is full). */
    _updateContact (identity: string, contact: C): void
    use (method: string, middleware: KadMiddleware<C> | KadErrorMiddleware<C>): void
    receive (request: KadRequest<C>, response: KadResponse): void
    send (method: string, params: unknown, target: KadContact<C>, handler?: (err: Error | null, result?: unknown) => void): void
    ping (target: KadContact<C>, callback: (err: Error | null, latency: number) => void): void
  }
}

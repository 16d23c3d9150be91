import { request } from 'node:http'
import { isIP } from 'node:net'
import { deadlineSignal, type AbortOptions } from '../core/abort.js'
import { silentLogger } from '../core/logger.js'
import { generateIdentity } from '../crypto/keys.js'
import type { Dht, DhtAddress, NodeInfo } from '../dht/types.js'
import { PieceClient } from '../transfer/client.js'
import type { Contact } from '../transfer/contact.js'
import { redisCommand, type RespValue } from './resp.js'

/** Asks processes whether they answer; shared by all probes of one `status`, closed after. */
export interface Prober {
  /** PING on a piece server; the handshake checks the node id when given. Throws when it does not answer. */
  pingPiece: (contact: Contact, options?: AbortOptions) => Promise<{ rtt: number }>
  /** INFO of a KadNode, verified (signature, node id, KadNode identity). Throws when it does not answer. */
  dhtInfo: (address: DhtAddress, options?: AbortOptions) => Promise<NodeInfo>
  /** One command to the Redis at redis://HOST:PORT on a fresh connection; its reply. Throws on an error reply or no answer. */
  redis: (url: string, args: readonly string[], options?: AbortOptions) => Promise<RespValue>
  /** GET `url` (http only); the status code. Throws when nothing answers. */
  httpStatus: (url: string, options?: AbortOptions) => Promise<number>
  close: () => Promise<void>
}

export interface ProberOptions {
  /** Deadline of one probe. @defaultValue 3000 */
  timeoutMs?: number
}

/**
 * A prober with one pooled piece client and, created on first use, a lookup-only DHT client (role
 * 'client': nodes never add it to their routing tables) per address family, on an ephemeral identity.
 * The DHT module (and kadence) is loaded only when a DHT probe is made.
 */
export function createProber (options: ProberOptions = {}): Prober {
  const timeoutMs = options.timeoutMs ?? 3000
  let pieces: PieceClient | undefined
  const dhts = new Map<string, Promise<Dht>>()

  const dhtFor = async (host: string): Promise<Dht> => {
    const bind = isIP(host) === 6 ? '::1' : '127.0.0.1'
    let dht = dhts.get(bind)
    if (dht === undefined) {
      dht = (async () => {
        const { createDht } = await import('../dht/dht.js')
        return await createDht({ identity: generateIdentity(), role: 'client', host: bind, port: 0, rpcTimeoutMs: timeoutMs, infoCacheMs: 0, logger: silentLogger() })
      })()
      dhts.set(bind, dht)
    }
    return await dht
  }

  return {
    async pingPiece (contact, abort = {}) {
      pieces ??= new PieceClient({ requestTimeout: timeoutMs, maxIdlePerPeer: 0, agent: 'batchain-testnet' })
      return await pieces.ping(contact, abort)
    },
    async dhtInfo (address, abort = {}) {
      const { signal, clear } = deadlineSignal(abort.signal, timeoutMs)
      try {
        return await (await dhtFor(address.host)).info(address, { signal })
      } finally {
        clear()
      }
    },
    async redis (url, args, abort = {}) {
      return await redisCommand(url, args, { ...abort, timeoutMs })
    },
    async httpStatus (url, abort = {}) {
      return await httpStatus(url, timeoutMs, abort)
    },
    async close () {
      pieces?.close()
      const started = [...dhts.values()]
      dhts.clear()
      await Promise.all(started.map(async p => {
        try {
          await (await p).stop()
        } catch {
          // It never started: nothing to stop.
        }
      }))
    }
  }
}

async function httpStatus (url: string, timeoutMs: number, abort: AbortOptions): Promise<number> {
  const { signal, clear } = deadlineSignal(abort.signal, timeoutMs)
  try {
    return await new Promise<number>((resolve, reject) => {
      const req = request(url, { method: 'GET', signal, agent: false, headers: { connection: 'close' } }, res => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.once('error', err => { reject(signal.aborted && abort.signal?.aborted !== true ? new Error(`no answer from ${url} within ${timeoutMs} ms`) : err) })
      req.end()
    })
  } finally {
    clear()
  }
}

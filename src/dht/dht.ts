import { lookup as dnsLookup } from 'node:dns/promises'
import { setMaxListeners } from 'node:events'
import { mkdir } from 'node:fs/promises'
import { isIP } from 'node:net'
import pLimit from 'p-limit'
import { z } from 'zod'
import { raceSignal, throwIfAborted, type AbortOptions } from '../core/abort.js'
import { PROTOCOL_VERSION } from '../core/constants.js'
import { AbortError, DhtInvalidNodeInfoError, DhtJoinError, DhtRpcError, DhtStoppedError, InvalidArgumentError, errorMessage } from '../core/errors.js'
import { isNodeId, isPieceId, type NodeId, type PieceId } from '../core/ids.js'
import { createLogger, type Logger } from '../core/logger.js'
import { VERSION } from '../core/version.js'
import { checkPointer, preverifyPointers, type PointerRecord } from '../crypto/pointer.js'
import { ContactStore } from './contact-store.js'
import { BatKadNode, type RpcTarget } from './kadence-node.js'
import { bucketIndex, compareDistance, dhtKeyOf, isDhtKey, KEY_BITS, keyBytes, randomKeyInBucket, sortByDistance } from './keys.js'
import { iterativeLookup } from './lookup.js'
import { checkNodeInfo, signNodeInfo } from './node-info.js'
import { DEFAULTS, type DhtOptions } from './options.js'
import { loadPeers, loadPointers, savePeers, savePointers } from './peers-file.js'
import { DebouncedSaver } from './persist.js'
import { NewestRecords } from './newest-records.js'
import { installPlugin, MAX_PIECES_PER_FIND_MANY, MAX_POINTERS_PER_RPC, MAX_RECORDS_PER_PIECE_IN_BATCH, RPC } from './plugin.js'
import { PointerStore } from './pointer-store.js'
import type { ClosestOptions, Dht, DhtAddress, DhtKey, DhtPeer, FindPointersManyOptions, FindPointersOptions, LocalNodeFacts, LookupResult, NearOptions, NodeInfo, NodeRole, PublishResult } from './types.js'
import { contactBinds, parseContact, toPeer, type Contact } from './wire.js'

/** Kademlia's K: bucket size and the default number of peers a lookup returns (kadence's constant). */
export const K = 20
/** Largest `count` a lookup accepts (answers are cut at K per peer anyway). */
const MAX_LOOKUP_COUNT = 200
/**
 * How long a contact (key at an address) that failed is left out of lookups. Other nodes keep
 * handing out a dead peer until they try it themselves; without this every lookup near it would
 * wait a full RPC deadline for it again. Keyed by address, so a node back on a new port is not affected.
 */
const DEAD_CONTACT_MS = 30_000
/** Least time between two attempts to refill an empty routing table from the seeds (see reseed). */
const RESEED_MIN_MS = 1000

/** The peer answered with a JSON-RPC error: it is alive (it may just not know the method). */
function refusedByPeer (err: unknown): boolean {
  return err instanceof DhtRpcError && (err.details as { rpcCode?: unknown } | undefined)?.rpcCode !== undefined
}

const defaultFacts = (): LocalNodeFacts => ({ capacity: 0, free: 0, reachability: 'direct' })

/** Creates a KadNode (or a lookup-only client), binds its UDP socket and loads persisted state. Call join() next. */
/** How long a placement lookup is reused by the publish of the same key, and how many are kept. */
const RECENT_LOOKUP_MS = 5000
/** How long a peer's whole-table FIND_NODE answer (fewer than K contacts) stands in for asking it again. */
const WHOLE_TABLE_MS = 5000
const MAX_RECENT_LOOKUPS = 1024

export async function createDht (options: DhtOptions, abort: AbortOptions = {}): Promise<Dht> {
  throwIfAborted(abort.signal)
  return await KadenceDht.create(options)
}

class KadenceDht implements Dht {
  readonly role: NodeRole
  readonly nodeId: NodeId
  readonly key: DhtKey
  private readonly stopController = new AbortController()
  private readonly timers: NodeJS.Timeout[] = []
  private readonly infoCache = new Map<string, { at: number, info: NodeInfo }>()
  /**
   * The last storageNodesNear lookups, by key, for RECENT_LOOKUP_MS. An uploader places a piece
   * (a lookup of its key) and publishes its pointer record moments later (the same key): the
   * publish reuses the placement's lookup instead of running a second one per piece. A replica
   * that died in between just fails its STORE and the record counts as not stored there.
   */
  private readonly recentLookups = new Map<DhtKey, { at: number, peers: DhtPeer[] }>()
  /**
   * Peers whose last FIND_NODE answer held fewer than K contacts: they know fewer than K nodes,
   * so that answer was their whole routing table and is their answer for any target. For
   * WHOLE_TABLE_MS a lookup uses it instead of asking again. In a network of fewer than K nodes
   * (a testnet, a small deployment) lookups then cost no requests after the first; in a larger
   * one every answer is K long and nothing is reused.
   */
  private readonly wholeTables = new Map<DhtKey, { at: number, contacts: Contact[] }>()
  /** `key@host:port` → time until which the contact is left out of lookups. */
  private readonly dead = new Map<string, number>()
  private readonly limit: ReturnType<typeof pLimit>
  private readonly settings: Required<Pick<DhtOptions, 'alpha' | 'replication' | 'concurrency' | 'infoCacheMs' | 'sweepIntervalMs' | 'contactRefreshMs' | 'bucketRefreshMs'>>
  private remembered: Contact[] = []
  /** Where the last successful join got in: its seeds and the remembered peers that answered (see reseed). */
  private seeds: DhtAddress[] = []
  private reseeding: Promise<Contact[]> | undefined
  private lastReseed = 0
  private maintenanceStarted = false
  private stopping: Promise<void> | undefined

  private constructor (
    private readonly options: DhtOptions,
    private readonly kad: BatKadNode,
    private readonly pointers: PointerStore,
    private readonly contacts: ContactStore,
    private readonly log: Logger,
    private readonly savers: DebouncedSaver[]
  ) {
    this.role = options.role
    this.nodeId = options.identity.id
    this.key = kad.key
    this.settings = {
      alpha: options.alpha ?? DEFAULTS.alpha,
      replication: options.replication ?? DEFAULTS.replication,
      concurrency: options.concurrency ?? DEFAULTS.concurrency,
      infoCacheMs: options.infoCacheMs ?? DEFAULTS.infoCacheMs,
      sweepIntervalMs: options.sweepIntervalMs ?? DEFAULTS.sweepIntervalMs,
      contactRefreshMs: options.contactRefreshMs ?? DEFAULTS.contactRefreshMs,
      bucketRefreshMs: options.bucketRefreshMs ?? DEFAULTS.bucketRefreshMs
    }
    this.limit = pLimit(this.settings.concurrency)
  }

  static async create (options: DhtOptions): Promise<KadenceDht> {
    const role = options.role
    if (role !== 'storage' && role !== 'bootstrap' && role !== 'client') throw new InvalidArgumentError(`unknown DHT role ${String(role)}`)
    for (const [name, value] of Object.entries({ alpha: options.alpha, replication: options.replication, rpcTimeoutMs: options.rpcTimeoutMs, concurrency: options.concurrency })) {
      if (value !== undefined && (!Number.isInteger(value) || value < 1)) throw new InvalidArgumentError(`DHT option ${name} must be a positive integer`)
    }
    const log = options.logger ?? createLogger('dht')
    const server = role !== 'client'
    const dataDir = server ? options.dataDir : undefined
    const pointers = new PointerStore({ maxRecords: options.maxPointerRecords, maxHoldersPerPiece: options.maxHoldersPerPiece })
    const contacts = new ContactStore({ ttlMs: options.contactTtlMs ?? DEFAULTS.contactTtlMs, maxRecords: options.maxContactRecords })

    let remembered: Contact[] = []
    if (dataDir !== undefined) {
      await mkdir(dataDir, { recursive: true, mode: 0o700 })
      try {
        remembered = await loadPeers(dataDir)
      } catch (err) {
        log.warn({ err: errorMessage(err), dataDir }, 'DHT peers file unreadable; starting without remembered peers')
      }
      try {
        const kept = pointers.load(await loadPointers(dataDir))
        if (kept > 0) log.info({ records: kept }, 'loaded pointer records held for others')
      } catch (err) {
        log.warn({ err: errorMessage(err), dataDir }, 'DHT pointers file unreadable; starting without held records')
      }
    }

    const kad = await BatKadNode.start({
      key: dhtKeyOf(options.identity.id),
      publicKey: options.identity.publicKey.toString('base64url'),
      role,
      host: options.host ?? DEFAULTS.host,
      port: options.port ?? DEFAULTS.port,
      announceHost: options.announceHost,
      rpcTimeoutMs: options.rpcTimeoutMs ?? DEFAULTS.rpcTimeoutMs,
      logger: log
    })

    const savers: DebouncedSaver[] = []
    const saveDelay = options.saveDelayMs ?? DEFAULTS.saveDelayMs
    if (dataDir !== undefined) {
      const onError = (what: string) => (err: unknown): void => { log.warn({ err: errorMessage(err), dataDir }, `could not save ${what}`) }
      const peersSaver = new DebouncedSaver(async () => { await savePeers(dataDir, kad.contacts()) }, saveDelay, onError('the routing table'))
      const pointersSaver = new DebouncedSaver(async () => { await savePointers(dataDir, pointers.all()) }, saveDelay, onError('pointer records'))
      kad.router.events.on('add', () => { peersSaver.touch() })
      kad.router.events.on('remove', () => { peersSaver.touch() })
      pointers.onChange = () => { pointersSaver.touch() }
      savers.push(peersSaver, pointersSaver)
    }

    const dht = new KadenceDht(options, kad, pointers, contacts, log, savers)
    dht.remembered = remembered
    installPlugin(kad, { role, info: () => dht.ownInfo(), pointers, contacts, logger: log })
    dht.every(dht.settings.sweepIntervalMs, () => {
      pointers.sweep()
      contacts.sweep()
    })
    log.debug({ key: dht.key, address: dht.address(), role, remembered: remembered.length }, 'DHT node listening')
    return dht
  }

  address (): DhtAddress {
    return { host: this.kad.contact.hostname, port: this.kad.contact.port }
  }

  peers (): DhtPeer[] {
    return this.kad.peersAsDht()
  }

  /** This node's NodeInfo, signed now with fresh facts. */
  private ownInfo (): NodeInfo {
    const facts = (this.options.facts ?? defaultFacts)()
    return signNodeInfo(this.options.identity, {
      role: this.role,
      dht: this.address(),
      facts,
      version: this.options.version ?? VERSION,
      protocolVersion: PROTOCOL_VERSION
    })
  }

  // ---- join -------------------------------------------------------------------------------------

  async join (seeds: readonly DhtAddress[], options: AbortOptions = {}): Promise<{ contacted: number }> {
    return await this.guard(options, async signal => {
      const remembered = this.remembered.map(([key, info]) => ({ key, host: info.hostname, port: info.port }))
      const { answered, failures, tried } = await this.askSeeds([...seeds, ...remembered], signal)
      throwIfAborted(signal)
      if (answered.length === 0) {
        throw new DhtJoinError(tried === 0
          ? 'Cannot join the DHT: no seeds given and no peers remembered'
          : `Cannot join the DHT: none of ${tried} seeds and remembered peers answered`, { details: { failures: failures.slice(0, 20) } })
      }
      const again = new Map<string, DhtAddress>()
      for (const a of [...seeds, ...answered.map(([, info]) => ({ host: info.hostname, port: info.port }))]) again.set(`${a.host}:${a.port}`, a)
      this.seeds = [...again.values()]
      this.remembered = []

      // Fill the routing table: our own neighbourhood first, then one random key per bucket farther
      // than our closest neighbour (kadence's join). Clients only need the first.
      const neighbours = await this.lookup(this.key, K, signal, answered)
      if (this.role !== 'client') {
        await this.refreshBuckets(signal, true)
        await this.publishContact(signal, neighbours.peers).catch((err: unknown) => {
          if (signal.aborted) throw err
          this.log.warn({ err: errorMessage(err) }, 'could not publish our contact record')
        })
        this.startMaintenance()
      }
      return { contacted: answered.length }
    })
  }

  /**
   * INFO to each address (seeds and remembered peers; our own skipped, each once): the ones that
   * answered, as contacts a lookup can start from, and why the others did not. A seed that is down
   * while others are up costs one RPC deadline and a log line, nothing more.
   */
  private async askSeeds (addresses: ReadonlyArray<DhtAddress & { key?: DhtKey }>, signal: AbortSignal): Promise<{ answered: Contact[], failures: string[], tried: number }> {
    const targets: RpcTarget[] = []
    const seen = new Set<string>([`${this.address().host}:${this.address().port}`])
    for (const address of addresses) {
      try {
        // A remembered peer's key is known: only that node's answer counts.
        const target: RpcTarget = { ...await this.resolve(address, signal), ...(address.key === undefined ? {} : { key: address.key }) }
        const id = `${target.host}:${target.port}`
        if (seen.has(id)) continue
        seen.add(id)
        targets.push(target)
      } catch (err) {
        if (signal.aborted) throw err
        this.log.warn({ seed: `${address.host}:${address.port}`, err: errorMessage(err) }, 'DHT seed address unusable; skipped')
      }
    }
    const answered: Contact[] = []
    const failures: string[] = []
    await Promise.all(targets.map(async target => await this.limit(async () => {
      try {
        const { sender } = await this.infoFrom(target, signal)
        answered.push(sender)
      } catch (err) {
        if (signal.aborted) return
        failures.push(`${target.host}:${target.port}: ${errorMessage(err)}`)
        this.log.warn({ peer: `${target.host}:${target.port}`, err: errorMessage(err) }, 'DHT seed or remembered peer did not answer; skipped')
      }
    })))
    return { answered, failures, tried: targets.length }
  }

  /**
   * Contacts to start a lookup from when the routing table is empty. Every peer in it can end up
   * evicted (each timed out once while this host or the network was overloaded, or cut off), and
   * a client never refreshes its table: it would stay empty for good and every lookup would find
   * nothing. So the places the last join got in through are asked again, at most once per
   * RESEED_MIN_MS, one attempt shared by every lookup waiting; their answers refill the table.
   */
  private async reseed (signal: AbortSignal): Promise<Contact[]> {
    if (this.seeds.length === 0 || this.kad.contacts().length > 0) return []
    if (this.reseeding === undefined) {
      if (Date.now() - this.lastReseed < RESEED_MIN_MS) return []
      this.lastReseed = Date.now()
      // Every peer failed: more likely our side (a stalled event loop, whose RPC deadlines all
      // fired at once, or a cut link) than all of them at once. Their dead marks go too, or the
      // lookups would skip every node the seeds name for DEAD_CONTACT_MS.
      this.dead.clear()
      const seeds = this.seeds
      this.reseeding = this.askSeeds(seeds, this.stopController.signal).then(({ answered }) => {
        this.log.info({ seeds: seeds.length, answered: answered.length }, 'DHT routing table was empty; asked the seeds again')
        return answered
      }).finally(() => { this.reseeding = undefined })
    }
    return await raceSignal(this.reseeding, signal)
  }

  /**
   * One lookup of a random key in each bucket from our closest neighbour's outwards. At join,
   * buckets the first lookup already filled are skipped: a full bucket takes no new contact anyway.
   */
  private async refreshBuckets (signal: AbortSignal, onlyUnfilled = false): Promise<void> {
    const contacts = this.kad.contacts()
    if (contacts.length === 0) return
    let closest = KEY_BITS - 1
    for (const [key] of contacts) closest = Math.min(closest, bucketIndex(this.key, key))
    const indices: number[] = []
    for (let i = closest + 1; i < KEY_BITS; i++) {
      if (onlyUnfilled && (this.kad.router.get(i)?.size ?? 0) >= K) continue
      indices.push(i)
    }
    const limit = pLimit(this.settings.alpha)
    await Promise.all(indices.map(async index => await limit(async () => {
      await this.lookup(randomKeyInBucket(this.key, index), K, signal)
    })))
  }

  private startMaintenance (): void {
    if (this.maintenanceStarted) return
    this.maintenanceStarted = true
    const signal = this.stopController.signal
    this.every(this.settings.contactRefreshMs, async () => { await this.publishContact(signal) })
    this.every(this.settings.bucketRefreshMs, async () => { await this.refreshBuckets(signal) })
  }

  private every (ms: number, task: () => unknown): void {
    let running = false
    const timer = setInterval(() => {
      if (running || this.stopController.signal.aborted) return
      running = true
      Promise.resolve().then(task).catch((err: unknown) => {
        if (!this.stopController.signal.aborted) this.log.warn({ err: errorMessage(err) }, 'DHT maintenance task failed')
      }).finally(() => { running = false })
    }, ms)
    timer.unref()
    this.timers.push(timer)
  }

  // ---- lookups ----------------------------------------------------------------------------------

  async closest (key: DhtKey, options: ClosestOptions = {}): Promise<LookupResult> {
    if (!isDhtKey(key)) throw new InvalidArgumentError('closest() needs a DhtKey (40 lowercase hex chars)')
    const count = options.count ?? K
    if (!Number.isInteger(count) || count < 1 || count > MAX_LOOKUP_COUNT) throw new InvalidArgumentError(`count must be 1..${MAX_LOOKUP_COUNT}`)
    return await this.guard(options, async signal => await this.lookup(key, count, signal))
  }

  private async lookup (key: DhtKey, count: number, signal: AbortSignal, extra: readonly Contact[] = []): Promise<LookupResult> {
    const known = this.kad.closestContacts(key, Math.max(count, K))
    const initial = [...(known.length > 0 || extra.length > 0 ? known : await this.reseed(signal)), ...extra]
    const outcome = await iterativeLookup({
      target: key,
      self: this.key,
      initial,
      count,
      alpha: this.settings.alpha,
      signal,
      query: async (peer, querySignal) => {
        const whole = this.wholeTables.get(peer[0])
        if (whole !== undefined && Date.now() - whole.at < WHOLE_TABLE_MS) return whole.contacts
        const { contacts, complete } = await this.findNodeRpc(peer, key, querySignal)
        if (complete) {
          if (this.wholeTables.size >= MAX_RECENT_LOOKUPS) this.wholeTables.clear()
          this.wholeTables.set(peer[0], { at: Date.now(), contacts })
        }
        else this.wholeTables.delete(peer[0])
        return contacts
      },
      onFailure: (peer, err) => { this.peerFailed(peer[0], err, peer[1]) },
      skip: (peer) => this.isDead(peer[0], peer[1].hostname, peer[1].port)
    })
    return { peers: outcome.contacts.map(toPeer), hops: outcome.hops, queried: outcome.queried }
  }

  /** FIND_POINTERS with closer contacts to one peer: records go to `merge` (each checked there), contacts are returned validated like FIND_NODE's. */
  private async findPointersRpc (peer: Contact, pieceId: PieceId, merge: (values: readonly unknown[]) => void, signal: AbortSignal | undefined): Promise<Contact[]> {
    const [peerKey, info] = peer
    const { result } = await this.kad.request(RPC.FIND_POINTERS, [pieceId, 'closer'], { key: peerKey, host: info.hostname, port: info.port }, { signal })
    const answer = result as { records?: unknown, contacts?: unknown } | null
    if (answer === null || typeof answer !== 'object' || !Array.isArray(answer.records) || !Array.isArray(answer.contacts)) {
      throw new DhtRpcError('FIND_POINTERS answer is not { records, contacts }')
    }
    merge(answer.records.slice(0, 256))
    return this.validContacts(answer.contacts)
  }

  /**
   * FIND_NODE to one peer; its answer is validated contact by contact (bad ones dropped).
   * `complete`: it named fewer than K contacts, i.e. every node it knows (see wholeTables).
   */
  private async findNodeRpc (peer: Contact, key: DhtKey, signal: AbortSignal | undefined): Promise<{ contacts: Contact[], complete: boolean }> {
    const [peerKey, info] = peer
    const { result } = await this.kad.request('FIND_NODE', [key], { key: peerKey, host: info.hostname, port: info.port }, { signal })
    if (!Array.isArray(result)) throw new DhtRpcError('FIND_NODE answer is not a list of contacts')
    return { contacts: this.validContacts(result), complete: result.length < K }
  }

  /** Contacts from a peer's answer that parse and whose key binds to their public key; clients are never routed to. */
  private validContacts (entries: readonly unknown[]): Contact[] {
    const out: Contact[] = []
    for (const entry of entries.slice(0, MAX_LOOKUP_COUNT)) {
      const contact = parseContact(entry)
      if (contact === undefined) continue
      if (contact[1].role === 'client' || !contactBinds(contact[0], contact[1])) continue
      out.push(contact)
    }
    return out
  }

  /**
   * A peer did not answer (or another node answered at its address): evict it, since kadence never
   * drops contacts that went offline. A peer that answered with an error is alive and stays.
   */
  private peerFailed (key: DhtKey, err: unknown, address?: { hostname: string, port: number }): void {
    if (err instanceof AbortError || err instanceof DhtStoppedError) return
    this.wholeTables.delete(key)
    if (refusedByPeer(err)) return
    if (address !== undefined) {
      if (this.dead.size > 10_000) this.dead.clear()
      this.dead.set(`${key}@${address.hostname}:${address.port}`, Date.now() + DEAD_CONTACT_MS)
    }
    if (this.kad.evict(key)) this.log.debug({ peer: key, err: errorMessage(err) }, 'evicted an unresponsive DHT peer')
  }

  private isDead (key: DhtKey, host: string, port: number): boolean {
    const id = `${key}@${host}:${port}`
    const until = this.dead.get(id)
    if (until === undefined) return false
    if (until > Date.now()) return true
    this.dead.delete(id)
    return false
  }

  // ---- INFO -------------------------------------------------------------------------------------

  async info (address: DhtAddress, options: AbortOptions = {}): Promise<NodeInfo> {
    return await this.guard(options, async signal => {
      const target = await this.resolve(address, signal)
      return (await this.infoFrom(target, signal)).info
    })
  }

  /**
   * INFO from one node, verified: the signature, nodeId = sha256(publicKey), the answering
   * KadNode's identity = dhtKeyOf(nodeId), and when the target's key is known, that it answered.
   */
  private async infoFrom (target: RpcTarget, signal: AbortSignal): Promise<{ info: NodeInfo, sender: Contact }> {
    const { result, sender } = await this.kad.request(RPC.INFO, [], target, { signal })
    const check = checkNodeInfo(result)
    if (!check.ok) throw new DhtInvalidNodeInfoError(`INFO from ${target.host}:${target.port} does not verify: ${check.reason}`)
    if (check.key !== sender[0]) {
      throw new DhtInvalidNodeInfoError(`INFO from ${target.host}:${target.port} is signed for another KadNode identity`, { details: { infoKey: check.key, sender: sender[0] } })
    }
    // It answered: it is not dead (a seed marked so before a reseed must not be skipped by it).
    this.dead.delete(`${sender[0]}@${target.host}:${target.port}`)
    if (this.settings.infoCacheMs > 0) {
      if (this.infoCache.size > 10_000) this.infoCache.clear()
      this.infoCache.set(`${target.host}:${target.port}`, { at: Date.now(), info: check.info })
    }
    return { info: check.info, sender }
  }

  private async cachedInfo (peer: DhtPeer, signal: AbortSignal): Promise<NodeInfo> {
    const cached = this.infoCache.get(`${peer.host}:${peer.port}`)
    if (cached !== undefined && Date.now() - cached.at < this.settings.infoCacheMs && dhtKeyOf(cached.info.nodeId) === peer.key) return cached.info
    return (await this.infoFrom(peer, signal)).info
  }

  async storageNodesNear (key: DhtKey, options: NearOptions): Promise<NodeInfo[]> {
    if (!isDhtKey(key)) throw new InvalidArgumentError('storageNodesNear() needs a DhtKey')
    const { count } = options
    if (!Number.isInteger(count) || count < 1) throw new InvalidArgumentError('count must be a positive integer')
    const exclude = options.exclude ?? new Set<NodeId>()
    const minFree = options.minFree ?? 1
    return await this.guard(options, async signal => {
      const want = Math.min(MAX_LOOKUP_COUNT, Math.max(K, count + Math.min(exclude.size, 2 * K)))
      const { peers } = await this.lookup(key, want, signal)
      this.rememberLookup(key, peers)
      const infos = await Promise.all(peers.map(async peer => await this.limit(async () => {
        try {
          return await this.cachedInfo(peer, signal)
        } catch (err) {
          if (signal.aborted) throw err
          this.peerFailed(peer.key, err, { hostname: peer.host, port: peer.port })
          return undefined
        }
      })))
      if (this.role === 'storage') infos.push(this.ownInfo())
      const usable = infos.filter((info): info is NodeInfo => info !== undefined &&
        info.role === 'storage' && info.piece !== undefined && info.free >= minFree && !exclude.has(info.nodeId))
      return sortByDistance(usable, key, info => dhtKeyOf(info.nodeId)).slice(0, count)
    })
  }

  // ---- find a node by id ------------------------------------------------------------------------

  async findNode (nodeId: NodeId, options: AbortOptions = {}): Promise<NodeInfo | undefined> {
    if (!isNodeId(nodeId)) throw new InvalidArgumentError('findNode() needs a node id (64 lowercase hex chars)')
    return await this.guard(options, async signal => {
      if (nodeId === this.nodeId) return this.ownInfo()
      const key = dhtKeyOf(nodeId)
      const { peers } = await this.lookup(key, K, signal)
      const confirm = async (target: RpcTarget): Promise<NodeInfo | undefined> => {
        try {
          const { info } = await this.infoFrom({ ...target, key }, signal)
          return info.nodeId === nodeId ? info : undefined
        } catch (err) {
          if (signal.aborted) throw err
          return undefined
        }
      }
      // The node itself answered the lookup: ask it.
      const direct = peers.find(p => p.key === key)
      if (direct !== undefined) {
        const info = await confirm(direct)
        if (info !== undefined) return info
      }
      // Otherwise its contact record, newest first, each confirmed by a fresh INFO from its address.
      const records: NodeInfo[] = []
      const local = this.contacts.get(nodeId)
      if (local !== undefined) records.push(local)
      await Promise.all(peers.slice(0, this.settings.replication).map(async peer => await this.limit(async () => {
        try {
          const { result } = await this.kad.request(RPC.FIND_CONTACT, [nodeId], peer, { signal })
          for (const value of Array.isArray(result) ? result.slice(0, 4) : []) {
            const check = checkNodeInfo(value)
            if (check.ok && check.info.nodeId === nodeId) records.push(check.info)
          }
        } catch (err) {
          if (signal.aborted) throw err
          this.peerFailed(peer.key, err, { hostname: peer.host, port: peer.port })
        }
      })))
      records.sort((a, b) => b.issuedAt - a.issuedAt)
      const tried = new Set<string>()
      if (direct !== undefined) tried.add(`${direct.host}:${direct.port}`)
      for (const record of records) {
        const address = `${record.dht.host}:${record.dht.port}`
        if (tried.has(address) || isIP(record.dht.host) === 0) continue
        tried.add(address)
        const info = await confirm(record.dht)
        if (info !== undefined) return info
      }
      return undefined
    })
  }

  /** Publishes our signed NodeInfo on the nodes closest to our own key. */
  private async publishContact (signal: AbortSignal, neighbours?: readonly DhtPeer[]): Promise<number> {
    const peers = (neighbours ?? (await this.lookup(this.key, this.settings.replication, signal)).peers).slice(0, this.settings.replication)
    const info = this.ownInfo()
    let stored = 0
    await Promise.all(peers.map(async peer => await this.limit(async () => {
      try {
        const { result } = await this.kad.request(RPC.STORE_CONTACT, [info], peer, { signal })
        if (result === 'stored' || result === 'unchanged') stored++
      } catch (err) {
        if (signal.aborted) throw err
        this.peerFailed(peer.key, err, { hostname: peer.host, port: peer.port })
      }
    })))
    return stored
  }

  // ---- pointer records --------------------------------------------------------------------------

  /** The R nodes closest to `key` that answered, and whether this node (a server) is among them. */
  private async replicas (key: DhtKey, signal: AbortSignal): Promise<{ peers: DhtPeer[], self: boolean }> {
    const r = this.settings.replication
    const recent = this.recentLookups.get(key)
    const peers = recent !== undefined && Date.now() - recent.at < RECENT_LOOKUP_MS && recent.peers.length >= r
      ? recent.peers.slice(0, r)
      : (await this.lookup(key, r, signal)).peers
    if (this.role === 'client') return { peers, self: false }
    // Count ourselves among the closest: in a small network we are often one of the R.
    const target = keyBytes(key)
    const mine = keyBytes(this.key)
    const closerThanUs = peers.filter(p => compareDistance(keyBytes(p.key), mine, target) < 0).length
    if (closerThanUs >= r) return { peers, self: false }
    return { peers: peers.slice(0, r - 1), self: true }
  }

  private rememberLookup (key: DhtKey, peers: DhtPeer[]): void {
    this.recentLookups.delete(key)
    this.recentLookups.set(key, { at: Date.now(), peers })
    // Bounded: the oldest entries go first (a Map iterates in insertion order).
    for (const old of this.recentLookups.keys()) {
      if (this.recentLookups.size <= MAX_RECENT_LOOKUPS) break
      this.recentLookups.delete(old)
    }
  }

  async publishPointers (records: readonly PointerRecord[], options: AbortOptions = {}): Promise<PublishResult> {
    return await this.guard(options, async signal => {
      const now = Date.now()
      const byPiece = new Map<PieceId, PointerRecord[]>()
      let failed = 0
      for (const record of records) {
        if (!checkPointer(record, now).ok) { failed++; continue }
        const list = byPiece.get(record.pieceId) ?? []
        list.push(record)
        byPiece.set(record.pieceId, list)
      }
      const accepted = new Set<PointerRecord>()
      // 'stale' means the node holds a newer record of the same holder: the piece is findable.
      const ok = (outcome: unknown): boolean => outcome === 'stored' || outcome === 'accepted' || outcome === 'unchanged' || outcome === 'stale'
      // First where each piece's records go (its R closest), then one STORE_POINTERS per peer for
      // all the records it should hold, batched: the pieces of a segment share most of their
      // replicas in small networks, so this is a request per peer instead of one per piece and peer.
      const perPeer = new Map<DhtKey, { peer: DhtPeer, records: PointerRecord[] }>()
      await Promise.all([...byPiece].map(async ([pieceId, list]) => await this.limit(async () => {
        try {
          const { peers, self } = await this.replicas(dhtKeyOf(pieceId), signal)
          if (self) for (const record of list) if (ok(this.pointers.put(record))) accepted.add(record)
          for (const peer of peers) {
            const entry = perPeer.get(peer.key) ?? { peer, records: [] }
            entry.records.push(...list)
            perPeer.set(peer.key, entry)
          }
        } catch (err) {
          if (signal.aborted) throw err
          this.log.warn({ piece: pieceId, err: errorMessage(err) }, 'pointer publish failed: no replicas found')
        }
      })))
      await Promise.all([...perPeer.values()].map(async ({ peer, records: list }) => {
        for (let i = 0; i < list.length; i += MAX_POINTERS_PER_RPC) {
          const batch = list.slice(i, i + MAX_POINTERS_PER_RPC)
          try {
            const { result } = await this.limit(async () => await this.kad.request(RPC.STORE_POINTERS, [batch], peer, { signal }))
            if (!Array.isArray(result)) continue
            batch.forEach((record, j) => { if (ok(result[j])) accepted.add(record) })
          } catch (err) {
            if (signal.aborted) throw err
            this.peerFailed(peer.key, err, { hostname: peer.host, port: peer.port })
            return
          }
        }
      }))
      let stored = 0
      for (const list of byPiece.values()) {
        for (const record of list) {
          if (accepted.has(record)) stored++
          else failed++
        }
      }
      return { stored, failed }
    })
  }

  async findPointers (pieceId: PieceId, options: FindPointersOptions = {}): Promise<PointerRecord[]> {
    if (!isPieceId(pieceId)) throw new InvalidArgumentError('findPointers() needs a piece id (64 lowercase hex chars)')
    return await this.guard(options, async signal => {
      const key = dhtKeyOf(pieceId)
      const found = new NewestRecords(pieceId)
      const merge = (values: readonly unknown[]): number => found.add(values)
      if (options.fast !== true) {
        // Complete: the R closest all asked, their records merged (churn can leave a piece's
        // records on different nodes); the rest of the K closest only if the R have none.
        const ask = async (peers: readonly DhtPeer[]): Promise<void> => {
          await Promise.all(peers.map(async peer => { await this.pointersOf(peer, pieceId, merge, signal) }))
        }
        const { peers } = await this.lookup(key, K, signal)
        if (this.role !== 'client') merge(this.pointers.get(pieceId))
        const r = this.settings.replication
        await ask(peers.slice(0, r))
        if (found.size === 0) await ask(peers.slice(r))
        return found.list()
      }
      // Fast: Kademlia's FIND_VALUE. Every peer the lookup asks answers with the records it holds
      // or else its closest contacts, and the lookup stops once two answers (ours counting as one)
      // brought records: one round of two requests in the common case. Churn can leave a holder's
      // record on other nodes than these two, so it may miss holders: for callers that need any.
      let answersWithRecords = 0
      const mergeAnswer = (values: readonly unknown[]): void => { if (merge(values) > 0) answersWithRecords++ }
      if (this.role !== 'client') mergeAnswer(this.pointers.get(pieceId))
      await iterativeLookup({
        target: key,
        self: this.key,
        initial: this.kad.contacts().length > 0 ? this.kad.closestContacts(key, K) : await this.reseed(signal),
        count: K,
        // Two in flight, not alpha: the lookup wants two answers with records, and in a
        // neighbourhood that holds them the first two requests usually are those answers.
        alpha: Math.min(2, this.settings.alpha),
        signal,
        stop: () => answersWithRecords >= 2,
        query: async (peer, querySignal) => await this.limit(async () => await this.findPointersRpc(peer, pieceId, mergeAnswer, querySignal)),
        onFailure: (peer, err) => { this.peerFailed(peer[0], err, peer[1]) },
        skip: (peer) => this.isDead(peer[0], peer[1].hostname, peer[1].port)
      })
      return found.list()
    })
  }

  async findPointersMany (pieceIds: readonly PieceId[], options: FindPointersManyOptions = {}): Promise<Map<PieceId, PointerRecord[]>> {
    for (const id of pieceIds) if (!isPieceId(id)) throw new InvalidArgumentError('findPointersMany() needs piece ids (64 lowercase hex chars)')
    return await this.guard(options, async signal => {
      const found = new Map<PieceId, NewestRecords>()
      for (const id of pieceIds) if (!found.has(id)) found.set(id, new NewestRecords(id))
      if (this.role !== 'client') for (const records of found.values()) records.add(this.pointers.get(records.pieceId))
      if (options.complete === true) {
        await this.findAllPointers(found, signal)
        return new Map(pieceIds.map(id => [id, (found.get(id) as NewestRecords).list()]))
      }
      // The first hop, batched: each piece to the closest live peer we know (one of the R that hold
      // its records in a settled network), grouped per peer.
      const perPeer = new Map<DhtKey, { peer: Contact, ids: PieceId[] }>()
      for (const id of found.keys()) {
        const closest = this.kad.closestContacts(dhtKeyOf(id), 8).filter(c => !this.isDead(c[0], c[1].hostname, c[1].port)).slice(0, 1)
        for (const peer of closest) {
          const entry = perPeer.get(peer[0]) ?? { peer, ids: [] }
          entry.ids.push(id)
          perPeer.set(peer[0], entry)
        }
      }
      const requests: Array<Promise<void>> = []
      for (const { peer, ids } of perPeer.values()) {
        for (let i = 0; i < ids.length; i += MAX_PIECES_PER_FIND_MANY) {
          const batch = ids.slice(i, i + MAX_PIECES_PER_FIND_MANY)
          requests.push(this.limit(async () => {
            try {
              const lists = await this.pointerBatch({ key: peer[0], host: peer[1].hostname, port: peer[1].port }, batch, signal)
              const now = Date.now()
              batch.forEach((id, j) => { found.get(id)?.add(lists[j] as unknown[], now) })
            } catch (err) {
              if (signal.aborted) throw err
              // A peer that does not know the RPC (an older node) answers with an error: it stays.
              this.peerFailed(peer[0], err, peer[1])
            }
          }))
        }
      }
      await Promise.all(requests)
      // Pieces the first hop found nothing for (their records are further away): a lookup each.
      await Promise.all([...found.values()].filter(r => r.size === 0).map(async records => {
        records.add(await this.findPointers(records.pieceId, { signal, fast: true }))
      }))
      return new Map(pieceIds.map(id => [id, (found.get(id) as NewestRecords).list()]))
    })
  }

  /**
   * The complete mode of findPointersMany: each piece's K closest (a lookup each, as findPointers
   * does; free in a network smaller than K, where whole-table answers are reused), then its R
   * closest asked in per-peer batches, then the rest of the K for pieces none of the R knew.
   */
  private async findAllPointers (found: ReadonlyMap<PieceId, NewestRecords>, signal: AbortSignal): Promise<void> {
    const lookups = pLimit(this.settings.concurrency)
    const closest = new Map<PieceId, DhtPeer[]>()
    await Promise.all([...found.keys()].map(async id => await lookups(async () => {
      closest.set(id, (await this.lookup(dhtKeyOf(id), K, signal)).peers)
    })))
    const r = this.settings.replication
    await this.askPointersOf([...found.keys()].map(id => [id, (closest.get(id) ?? []).slice(0, r)]), found, signal)
    const none = [...found.values()].filter(records => records.size === 0).map(records => records.pieceId)
    if (none.length > 0) await this.askPointersOf(none.map(id => [id, (closest.get(id) ?? []).slice(r)]), found, signal)
  }

  /**
   * Asks each peer for the pieces listed with it: FIND_POINTERS_MANY per peer, ≤ 16 pieces each.
   * A piece whose answer reached the batch's per-piece cap (it may have been cut), and every piece
   * of a batch a peer refused (an older node without the RPC), is asked again with FIND_POINTERS.
   */
  private async askPointersOf (asks: ReadonlyArray<readonly [PieceId, readonly DhtPeer[]]>, found: ReadonlyMap<PieceId, NewestRecords>, signal: AbortSignal): Promise<void> {
    const perPeer = new Map<DhtKey, { peer: DhtPeer, ids: PieceId[] }>()
    for (const [id, peers] of asks) {
      for (const peer of peers) {
        const entry = perPeer.get(peer.key) ?? { peer, ids: [] }
        entry.ids.push(id)
        perPeer.set(peer.key, entry)
      }
    }
    const alone: Array<{ peer: DhtPeer, id: PieceId }> = []
    // A peer's batches go one after another, and stop at its first failure: a peer that died
    // costs one RPC deadline, not one per batch (nor the slots they would hold meanwhile).
    await Promise.all([...perPeer.values()].map(async ({ peer, ids }) => {
      for (let i = 0; i < ids.length; i += MAX_PIECES_PER_FIND_MANY) {
        const batch = ids.slice(i, i + MAX_PIECES_PER_FIND_MANY)
        const ok = await this.limit(async () => {
          try {
            const lists = await this.pointerBatch(peer, batch, signal)
            const now = Date.now()
            batch.forEach((id, j) => {
              const list = lists[j] as unknown[]
              found.get(id)?.add(list, now)
              if (list.length >= MAX_RECORDS_PER_PIECE_IN_BATCH) alone.push({ peer, id })
            })
            return true
          } catch (err) {
            if (signal.aborted) throw err
            this.peerFailed(peer.key, err, { hostname: peer.host, port: peer.port })
            // Alive but without the RPC (an older node): its pieces one by one.
            if (refusedByPeer(err)) {
              for (const id of ids.slice(i)) alone.push({ peer, id })
            }
            return false
          }
        })
        if (!ok) return
      }
    }))
    await Promise.all(alone.map(async ({ peer, id }) => {
      await this.pointersOf(peer, id, values => found.get(id)?.add(values), signal)
    }))
  }

  /** FIND_POINTERS [id] to one peer (under the concurrency limit): its records go to `merge`; a peer that fails is handled as any. */
  private async pointersOf (peer: DhtPeer, pieceId: PieceId, merge: (values: readonly unknown[]) => unknown, signal: AbortSignal): Promise<void> {
    await this.limit(async () => {
      try {
        const { result } = await this.kad.request(RPC.FIND_POINTERS, [pieceId], peer, { signal })
        if (Array.isArray(result)) merge(result.slice(0, 256))
      } catch (err) {
        if (signal.aborted) throw err
        this.peerFailed(peer.key, err, { hostname: peer.host, port: peer.port })
      }
    })
  }

  /**
   * FIND_POINTERS_MANY for ≤ 16 pieces to one peer: one list per piece (at most
   * MAX_RECORDS_PER_PIECE_IN_BATCH records each), their signatures checked on the thread pool (not
   * on the event loop a download needs), so merging them afterwards is cache hits.
   */
  private async pointerBatch (peer: RpcTarget, batch: readonly PieceId[], signal: AbortSignal): Promise<unknown[][]> {
    const { result } = await this.kad.request(RPC.FIND_POINTERS_MANY, [batch], peer, { signal })
    if (!Array.isArray(result) || result.length !== batch.length) throw new DhtRpcError('FIND_POINTERS_MANY answer is not one list per piece')
    const lists = result.map((list: unknown) => Array.isArray(list) ? list.slice(0, MAX_RECORDS_PER_PIECE_IN_BATCH) : [])
    await preverifyPointers(lists.flat())
    return lists
  }

  // ---- plumbing ---------------------------------------------------------------------------------

  private async resolve (address: DhtAddress, signal: AbortSignal): Promise<RpcTarget> {
    const parsed = z.object({ host: z.string().min(1).max(255), port: z.number().int().min(1).max(65535) }).safeParse(address)
    if (!parsed.success) throw new InvalidArgumentError(`not a DHT address: ${JSON.stringify(address)}`)
    const { host, port } = parsed.data
    if (isIP(host) !== 0) return { host, port }
    const family = isIP(this.address().host) === 6 ? 6 : 4
    const resolved = await dnsLookup(host, { family })
    throwIfAborted(signal)
    return { host: resolved.address, port }
  }

  /**
   * Runs an operation with a signal that fires on the caller's abort or on stop(); after stop()
   * every operation fails with DhtStoppedError.
   */
  private async guard<T> (options: AbortOptions, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.stopController.signal.aborted) throw new DhtStoppedError()
    throwIfAborted(options.signal)
    const signal = options.signal === undefined ? this.stopController.signal : AbortSignal.any([options.signal, this.stopController.signal])
    // One listener per RPC in flight: a lookup or a batch legitimately has dozens.
    setMaxListeners(0, signal)
    try {
      return await fn(signal)
    } catch (err) {
      if (this.stopController.signal.aborted && options.signal?.aborted !== true) throw new DhtStoppedError(undefined, { cause: err })
      throw err
    }
  }

  async stop (): Promise<void> {
    this.stopping ??= (async () => {
      this.stopController.abort(new DhtStoppedError())
      for (const timer of this.timers) clearInterval(timer)
      await this.kad.close()
      for (const saver of this.savers) await saver.stop()
      this.log.debug({ key: this.key }, 'DHT node stopped')
    })()
    await this.stopping
  }
}

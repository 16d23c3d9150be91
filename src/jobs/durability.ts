import type { AbortOptions } from '../core/abort.js'
import type { NodeId, PieceId } from '../core/ids.js'
import { InvalidArgumentError } from '../core/errors.js'
import { createLogger, type Logger } from '../core/logger.js'
import { auditFile, fetchManifest, repairSegments, segmentHealth, trustEveryHolder, type AuditReport, type Holder, type HolderJudge, type RepairPlacement, type SegmentHealthReport, type SegmentRepairResult, type SegmentsRepairResult, type StorageNetwork } from '../client/index.js'
import { parseCapability, toVerifyCapability, type VerifyCapability } from '../crypto/capability.js'
import { createErasureCoder, type ErasureCoder } from '../erasure/index.js'
import type { Manifest } from '../manifest/index.js'
import { parseContact, type Contact, type PieceClient } from '../transfer/index.js'
import type { FileRegistry } from './file-registry.js'
import { PIECE_STATE_LETTERS, type FileRecord } from './file-state.js'
import { excludedNodes, registryJudge } from './judge.js'
import type { NodeRecord } from './node-state.js'
import type { NodeRegistry } from './registry.js'

/**
 * The durability operations on one file — health check, audit, segment repair — as the worker's
 * processors and the CLI's `--now` run them. With registries (Redis) they judge holders by
 * keepalive state, reputation and failed audits, and record what they find; without, every holder
 * that answers counts (a plain client's view) and nothing is recorded.
 *
 * Only verify capabilities are needed: a read capability given here is reduced to its verify
 * capability before anything else, and the key goes no further.
 */
export interface DurabilityInit {
  network: StorageNetwork
  client: PieceClient
  nodes?: NodeRegistry
  files?: FileRegistry
  logger?: Logger
  /** Manifests kept in memory (they are immutable: the id is their hash). @defaultValue 32 */
  manifestCache?: number
  /** Segments located per batch during a check (bounds memory for large files). @defaultValue 64 */
  checkBatch?: number
  /** Segments of one repair batch in flight at once. @defaultValue 2 */
  repairWindow?: number
}

export interface FileCheck {
  manifestId: string
  capability: string
  dataShards: number
  parityShards: number
  threshold: number
  segments: SegmentHealthReport[]
  /** Segments under the threshold, worst (fewest good pieces) first. */
  degraded: Array<{ index: number, good: number }>
  /** Holders seen that the node registry did not know (now registered). */
  registered: number
}

export interface AuditRunOptions extends AbortOptions {
  samplePerSegment?: number
  leavesPerPiece?: number
}

export class Durability {
  private readonly manifests = new Map<string, Manifest>()
  private readonly coders = new Map<string, Promise<ErasureCoder>>()

  constructor (private readonly init: DurabilityInit) {}

  /** The verify capability of a capability string (read or verify), parsed. */
  static verifyOf (capability: string): VerifyCapability {
    return toVerifyCapability(parseCapability(capability))
  }

  async manifest (manifestId: string, options: AbortOptions = {}): Promise<Manifest> {
    const cached = this.manifests.get(manifestId)
    if (cached !== undefined) {
      this.manifests.delete(manifestId)
      this.manifests.set(manifestId, cached)
      return cached
    }
    const log = this.init.logger ?? createLogger('durability')
    const { manifest } = await fetchManifest(manifestId as PieceId, this.init.network.locator, this.init.client, { signal: options.signal, log })
    this.manifests.set(manifestId, manifest)
    while (this.manifests.size > (this.init.manifestCache ?? 32)) this.manifests.delete(this.manifests.keys().next().value as string)
    return manifest
  }

  /** Adds a file to the registry (or refreshes its facts). Needs the file registry. */
  async register (capability: string, extra: { label?: string, owner?: string, repairThreshold?: number }, options: AbortOptions = {}): Promise<FileRecord> {
    const files = this.requireFiles()
    const cap = Durability.verifyOf(capability)
    const manifest = await this.manifest(cap.manifestId, options)
    const { dataShards, parityShards } = manifest.params
    return await files.register({
      manifestId: cap.manifestId,
      capability: `batchain:v1:${cap.manifestId}`,
      dataShards,
      parityShards,
      segments: manifest.segments.length,
      storedBytes: manifest.segments.reduce((sum, s) => sum + s.shardSize * s.pieces.length, 0),
      createdAt: manifest.createdAt,
      ...extra
    }, options)
  }

  /** Health of every segment; with registries, recorded and unseen holders registered. */
  async check (capability: string, options: AbortOptions = {}): Promise<FileCheck> {
    const started = performance.now()
    const cap = Durability.verifyOf(capability)
    const manifest = await this.manifest(cap.manifestId, options)
    const { dataShards: k, parityShards: m } = manifest.params
    const record = await this.init.files?.get(cap.manifestId, options)
    const threshold = record?.repairThreshold ?? k + m
    const { judge, nodes } = await this.judge(record, options)
    const addressOf = addressesOf(nodes)
    const segments: SegmentHealthReport[] = []
    const batch = this.init.checkBatch ?? 64
    for (let start = 0; start < manifest.segments.length; start += batch) {
      const layouts = manifest.segments.slice(start, start + batch)
      const holders = await this.init.network.locator.locate(layouts.flatMap(l => l.pieces.map(p => p.id)), { ...options, addressOf })
      for (const layout of layouts) segments.push(segmentHealth(layout, holders, judge))
    }
    let registered = 0
    const perNode: Record<string, number> = {}
    for (const s of segments) {
      for (const p of s.pieces) {
        for (const h of p.holders) {
          perNode[h.nodeId] = (perNode[h.nodeId] ?? 0) + 1
          if (this.init.nodes !== undefined && nodes !== undefined && !nodes.has(h.nodeId)) {
            const { host, port } = parseContact(h.node)
            const rec = await this.init.nodes.register({ nodeId: h.nodeId, piece: { host, port } }, options)
            nodes.set(h.nodeId, rec)
            registered++
          }
        }
      }
    }
    if (record !== undefined && this.init.files !== undefined) {
      await this.init.files.recordHealth(cap.manifestId, segments.map(s => ({ index: s.index, good: s.good, total: s.total, states: statesOf(s) })), perNode, { ...options, tookMs: performance.now() - started })
    }
    const degraded = segments.filter(s => s.good < threshold).map(s => ({ index: s.index, good: s.good })).sort((a, b) => a.good - b.good || a.index - b.index)
    return { manifestId: cap.manifestId, capability: `batchain:v1:${cap.manifestId}`, dataShards: k, parityShards: m, threshold, segments, degraded, registered }
  }

  /**
   * Challenges a random sample of the file's pieces (every holder of each) for random Merkle
   * leaves, checked against the manifest's roots. Every answer counts for or against its node's
   * reputation; a garbage answer counts against that node only.
   */
  async audit (capability: string, options: AuditRunOptions = {}): Promise<AuditReport> {
    const cap = Durability.verifyOf(capability)
    // Holders at the addresses keepalive keeps current, as the check finds them (a holder that
    // moved is looked up when it does not answer there), not one DHT lookup per holder: the audit
    // and the check then see the same holders.
    const addressOf = this.init.nodes === undefined ? undefined : addressesOf(new Map((await this.init.nodes.list(options)).map(n => [n.nodeId, n])))
    const report = await auditFile(cap, {
      locator: this.init.network.locator,
      ...(addressOf === undefined ? {} : { addressOf }),
      client: this.init.client,
      signal: options.signal,
      ...(options.samplePerSegment === undefined ? {} : { samplePerSegment: options.samplePerSegment }),
      ...(options.leavesPerPiece === undefined ? {} : { leavesPerPiece: options.leavesPerPiece }),
      ...(this.init.logger === undefined ? {} : { logger: this.init.logger })
    })
    if (this.init.nodes !== undefined) {
      for (const p of report.pieces) {
        if (p.nodeId === null || p.node === null || p.state === 'missing' || p.state === 'unreachable') continue
        // A holder met here for the first time is registered, so its verdict is kept (and keepalive pings it).
        let recorded = await this.init.nodes.recordAudit(p.nodeId, p.state === 'ok', options)
        if (recorded === undefined) {
          const { host, port } = parseContact(p.node)
          await this.init.nodes.register({ nodeId: p.nodeId, piece: { host, port } }, options)
          recorded = await this.init.nodes.recordAudit(p.nodeId, p.state === 'ok', options)
        }
      }
    }
    await this.init.files?.recordAudit(cap.manifestId, { at: Date.now(), challenges: report.pieces.map(p => ({ pieceId: p.pieceId, nodeId: p.nodeId, state: p.state })) }, options)
    return report
  }

  /** Rebuilds the pieces of one segment that have no good holder (see client/repair.ts). */
  async repair (capability: string, segment: number, options: AbortOptions & { previous?: readonly RepairPlacement[], onPlaced?: (p: RepairPlacement) => Promise<void> } = {}): Promise<SegmentRepairResult> {
    const batch = await this.repairSegments(capability, [segment], {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      previous: (options.previous ?? []).map(p => ({ ...p, segment })),
      ...(options.onPlaced === undefined ? {} : { onPlaced: async ({ segment: _s, ...p }) => { await options.onPlaced?.(p) } })
    })
    const failure = batch.failed[0]
    if (failure !== undefined) throw failure.error
    return batch.results[0] as SegmentRepairResult
  }

  /**
   * Repairs several segments of one file in one go (client/repair.ts repairSegments): the manifest,
   * the registries and the holders of every piece are read once, segments are pipelined, pointer
   * records published in one call, and the outcomes recorded in one registry update. With the node
   * registry, rebuilt pieces go to its online, trusted storage nodes (fewest pieces of this batch
   * first), so no DHT lookup is needed to choose them; the network's placer is the fallback.
   */
  async repairSegments (capability: string, segments: readonly number[], options: AbortOptions & { previous?: ReadonlyArray<RepairPlacement & { segment: number }>, onPlaced?: (p: RepairPlacement & { segment: number }) => Promise<void>, window?: number } = {}): Promise<SegmentsRepairResult> {
    const started = performance.now()
    const cap = Durability.verifyOf(capability)
    const manifest = await this.manifest(cap.manifestId, options)
    const record = await this.init.files?.get(cap.manifestId, options)
    const { judge, nodes } = await this.judge(record, options)
    const policy = this.init.nodes?.reputation
    const exclude = nodes === undefined || policy === undefined ? new Set<string>() : excludedNodes(nodes.values(), policy)
    const addressOf = addressesOf(nodes)
    const batch = await repairSegments(manifest, segments, {
      addressOf,
      ...(nodes === undefined ? {} : { locate: async (ids, abort) => await this.locateKnownFirst(ids, knownHolders(nodes, record), judge, addressOf, abort) }),
      network: this.init.network,
      client: this.init.client,
      coder: await this.coder(manifest.params.dataShards, manifest.params.parityShards),
      judge,
      threshold: record?.repairThreshold ?? manifest.params.dataShards + manifest.params.parityShards,
      exclude,
      ...(nodes === undefined ? {} : { targets: registryTargets(nodes.values(), exclude) }),
      window: options.window ?? this.init.repairWindow ?? 2,
      // A segment queued as degraded that the repair finds healthy: the checker, which finds
      // holders through the DHT, did not see a copy that asking the nodes found (one stored by an
      // interrupted repair, say). Its holder's record is published so both agree from now on.
      refreshSkipped: true,
      signal: options.signal,
      ...(options.previous === undefined ? {} : { previous: options.previous }),
      ...(options.onPlaced === undefined ? {} : { onPlaced: options.onPlaced }),
      ...(this.init.logger === undefined ? {} : { logger: this.init.logger })
    })
    if (this.init.files !== undefined && record !== undefined && batch.results.length > 0) {
      const at = Date.now()
      const seconds = (performance.now() - started) / 1000
      await this.init.files.recordRepairs(cap.manifestId, batch.results.map(result => ({
        at,
        segment: result.segment,
        rebuilt: result.skipped ? 0 : result.placed.length,
        bytes: result.bytes,
        goodBefore: result.goodBefore,
        goodAfter: result.goodAfter,
        states: statesOf(result.after),
        seconds
      })), options)
    }
    return batch
  }

  /**
   * Holders of the pieces: first by asking the nodes the registry knows may hold them (one HAS
   * each for every piece; the handshake checks each node's id), then through the network's
   * locator only for the pieces that found no good holder that way (lost, or held by a node the
   * registry does not know), so those are judged on everything the network knows of them.
   */
  private async locateKnownFirst (ids: readonly PieceId[], known: ReadonlyArray<Contact & { nodeId: NodeId }>, judge: HolderJudge, addressOf: ReturnType<typeof addressesOf>, options: AbortOptions): Promise<Map<PieceId, Holder[]>> {
    const result = new Map<PieceId, Holder[]>(ids.map(id => [id, []]))
    await Promise.all(known.map(async node => {
      for (let start = 0; start < ids.length; start += MAX_HAS_IDS) {
        const chunk = ids.slice(start, start + MAX_HAS_IDS)
        try {
          const { have, nodeId } = await this.init.client.has(node, chunk, options)
          if (nodeId !== node.nodeId) return
          have.forEach((held, i) => { if (held) result.get(chunk[i] as PieceId)?.push({ host: node.host, port: node.port, nodeId: node.nodeId }) })
        } catch (err) {
          if (options.signal?.aborted === true) throw err
          return
        }
      }
    }))
    const lacking = ids.filter(id => !(result.get(id) ?? []).some(h => judge(id, h) === 'good'))
    if (lacking.length > 0) {
      const found = await this.init.network.locator.locate(lacking, { ...options, ...(addressOf === undefined ? {} : { addressOf }) })
      for (const [id, list] of found) {
        const have = result.get(id) ?? []
        for (const h of list) if (!have.some(x => x.nodeId === h.nodeId)) have.push(h)
        result.set(id, have)
      }
    }
    return result
  }

  private async judge (record: FileRecord | undefined, options: AbortOptions): Promise<{ judge: HolderJudge, nodes: Map<string, NodeRecord> | undefined }> {
    if (this.init.nodes === undefined) return { judge: trustEveryHolder, nodes: undefined }
    const nodes = new Map((await this.init.nodes.list(options)).map(n => [n.nodeId, n]))
    return { judge: registryJudge(nodes, record, this.init.nodes.reputation), nodes }
  }

  private async coder (k: number, m: number): Promise<ErasureCoder> {
    const key = `${k}+${m}`
    let coder = this.coders.get(key)
    if (coder === undefined) {
      coder = createErasureCoder(k, m)
      coder.catch(() => { this.coders.delete(key) })
      this.coders.set(key, coder)
    }
    return await coder
  }

  private requireFiles (): FileRegistry {
    if (this.init.files === undefined) throw new InvalidArgumentError('Registering a file needs the durability loop\'s Redis (--redis)')
    return this.init.files
  }
}

/** The compact per-piece picture of a segment (PIECE_STATE_LETTERS). */
export function statesOf (segment: SegmentHealthReport): string {
  return segment.pieces.map(p => PIECE_STATE_LETTERS[p.state]).join('')
}

/**
 * Where rebuilt pieces go when the node registry is known: its online storage nodes that are not
 * excluded (lost, offline, untrusted), a node with fewer pieces of this batch first (ties in random
 * order), skipping nodes whose last known free space is too small. The repair skips holders of the
 * segment's counted pieces itself.
 */
export function registryTargets (nodes: Iterable<NodeRecord>, exclude: ReadonlySet<string>): (taken: ReadonlySet<string>, size: number) => Array<Contact & { nodeId: NodeId }> {
  const usable = [...nodes].filter(n => n.state === 'online' && !exclude.has(n.nodeId))
  const placed = new Map<string, number>()
  return (taken, size) => {
    const order = usable
      .filter(n => !taken.has(n.nodeId) && (n.free === undefined || n.free - (placed.get(n.nodeId) ?? 0) * size >= size))
      .map(n => ({ n, count: placed.get(n.nodeId) ?? 0, tie: Math.random() }))
      .sort((a, b) => a.count - b.count || a.tie - b.tie)
      .map(({ n }) => ({ host: n.piece.host, port: n.piece.port, nodeId: n.nodeId as NodeId }))
    // Counted when offered first: concurrent segments then spread over different nodes.
    const first = order[0]
    if (first !== undefined) placed.set(first.nodeId, (placed.get(first.nodeId) ?? 0) + 1)
    return order
  }
}

/** Ids per HAS request (the protocol's limit). */
const MAX_HAS_IDS = 512

/**
 * Nodes that may hold a file's pieces, as the registry knows them: the holders its last check saw,
 * and every online node of a small registry (repairs since then may have placed pieces on others).
 * Lost nodes are not asked (their pieces do not count).
 */
function knownHolders (nodes: ReadonlyMap<string, NodeRecord>, record: FileRecord | undefined): Array<Contact & { nodeId: NodeId }> {
  const ids = new Set(Object.keys(record?.health?.nodes ?? {}))
  if (nodes.size <= 64) for (const n of nodes.values()) if (n.state === 'online') ids.add(n.nodeId)
  return [...ids].flatMap(id => {
    const n = nodes.get(id)
    return n === undefined || n.state === 'lost' ? [] : [{ host: n.piece.host, port: n.piece.port, nodeId: n.nodeId as NodeId }]
  })
}

/** Registry addresses by node id, for locators that would otherwise look each holder up. */
function addressesOf (nodes: ReadonlyMap<string, NodeRecord> | undefined): ((nodeId: string) => { host: string, port: number } | undefined) | undefined {
  if (nodes === undefined) return undefined
  return nodeId => nodes.get(nodeId)?.piece
}


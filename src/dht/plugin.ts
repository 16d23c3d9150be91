import { z } from 'zod'
import { errorCode, errorMessage } from '../core/errors.js'
import type { NodeId, PieceId } from '../core/ids.js'
import { checkPointerUnsigned, preverifyPointers, type PointerRecord } from '../crypto/pointer.js'
import type { Logger } from '../core/logger.js'
import type { ContactStore } from './contact-store.js'
import { dhtKeyOf } from './keys.js'
import type { BatKadNode } from './kadence-node.js'
import type { PointerStore } from './pointer-store.js'
import type { NodeInfo, NodeRole } from './types.js'

/**
 * BatChain's kadence plugin: the RPCs a KadNode serves beside PING and FIND_NODE.
 *
 * | method | params | result |
 * | --- | --- | --- |
 * | BATCHAIN_INFO | [] | this node's signed NodeInfo (BatNode contact, capacity, free, version, reachability) |
 * | BATCHAIN_STORE_POINTERS | [records (1..64)] | one outcome per record: stored, accepted (kept; its signature is checked before it is first served), unchanged, stale, full, invalid |
 * | BATCHAIN_FIND_POINTERS | [pieceId] | unexpired records for the piece, one per holder, each signature checked |
 * | BATCHAIN_FIND_POINTERS | [pieceId, 'closer'] | { records, contacts }: the records, or when it holds none this node's K closest contacts to the piece's key (Kademlia FIND_VALUE: one round trip serves the lookup and the answer) |
 * | BATCHAIN_FIND_POINTERS_MANY | [pieceIds (1..16)] | one list per piece: its newest records (at most 4: any holder will do), [] when it holds none |
 * | BATCHAIN_STORE_CONTACT | [NodeInfo] | outcome: stored, unchanged, stale, full, invalid, expired |
 * | BATCHAIN_FIND_CONTACT | [nodeId] | [NodeInfo] or [] |
 *
 * Params are checked with zod before anything else; a request that fails gets JSON-RPC error -32602
 * with data.code BATCHAIN_ERR_DHT_BAD_REQUEST. Records are checked one by one (signatures) by the
 * stores, so a batch with a forged record still stores the good ones and says which were refused.
 */

export const RPC = {
  INFO: 'BATCHAIN_INFO',
  STORE_POINTERS: 'BATCHAIN_STORE_POINTERS',
  FIND_POINTERS: 'BATCHAIN_FIND_POINTERS',
  FIND_POINTERS_MANY: 'BATCHAIN_FIND_POINTERS_MANY',
  STORE_CONTACT: 'BATCHAIN_STORE_CONTACT',
  FIND_CONTACT: 'BATCHAIN_FIND_CONTACT'
} as const

/** Pointer records per STORE_POINTERS request (≈ 350 bytes each: a batch stays well inside a datagram). */
export const MAX_POINTERS_PER_RPC = 64

/** Pieces per FIND_POINTERS_MANY request, and records per piece in its answer: 16 × 4 × ≈350 bytes fits a datagram. */
export const MAX_PIECES_PER_FIND_MANY = 16
export const MAX_RECORDS_PER_PIECE_IN_BATCH = 4

const hex64 = z.string().regex(/^[0-9a-f]{64}$/)

export const paramSchemas = {
  [RPC.INFO]: z.array(z.unknown()).max(0),
  [RPC.STORE_POINTERS]: z.tuple([z.array(z.unknown()).min(1).max(MAX_POINTERS_PER_RPC)]),
  [RPC.FIND_POINTERS]: z.union([z.tuple([hex64]), z.tuple([hex64, z.literal('closer')])]),
  [RPC.FIND_POINTERS_MANY]: z.tuple([z.array(hex64).min(1).max(MAX_PIECES_PER_FIND_MANY)]),
  [RPC.STORE_CONTACT]: z.tuple([z.record(z.string(), z.unknown())]),
  [RPC.FIND_CONTACT]: z.tuple([hex64])
} as const

export interface PluginContext {
  role: NodeRole
  /** This node's NodeInfo, signed now (facts read fresh). */
  info: () => NodeInfo
  pointers: PointerStore
  contacts: ContactStore
  logger: Logger
}

type Method = keyof typeof paramSchemas

/** Contacts a FIND_POINTERS answer carries when asked for closer nodes (Kademlia's K). */
export const FIND_POINTERS_CONTACTS = 20

function handler<M extends Method> (node: BatKadNode, method: M, log: Logger, fn: (params: z.infer<(typeof paramSchemas)[M]>, asker: string) => unknown): void {
  const schema = paramSchemas[method]
  node.handle(method, (request, response) => {
    const parsed = schema.safeParse(request.params)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      response.error(`Invalid params for ${method}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(), -32602, { code: 'BATCHAIN_ERR_DHT_BAD_REQUEST' })
      return
    }
    const fail = (err: unknown): void => {
      log.warn({ method, err: errorMessage(err) }, 'DHT RPC handler failed')
      response.error(errorMessage(err), -32000, { code: errorCode(err) })
    }
    try {
      const result = fn(parsed.data as z.infer<(typeof paramSchemas)[M]>, request.contact[0])
      if (result instanceof Promise) result.then(value => { response.send(value) }, fail)
      else response.send(result)
    } catch (err) {
      fail(err)
    }
  })
}

/** Registers our RPCs on a node. Clients answer INFO only: they keep no records for others. */
export function installPlugin (node: BatKadNode, context: PluginContext): void {
  const { logger: log } = context
  handler(node, RPC.INFO, log, () => context.info())
  if (context.role === 'client') return
  handler(node, RPC.STORE_POINTERS, log, async ([records]) => {
    // A holder's first record for a piece is kept unchecked and checked when first served (see
    // PointerStore.put): the nodes around an upload would otherwise each check every record of it.
    // Records that would replace or evict one already kept are checked here first, on the thread
    // pool (the store's own check is then a cache hit): a holder's refresh replaces its records.
    const now = Date.now()
    await preverifyPointers(records.filter(record => checkPointerUnsigned(record, now).ok && context.pointers.contested(record as PointerRecord)))
    return records.map(record => context.pointers.put(record, now, { lazy: true }))
  })
  handler(node, RPC.FIND_POINTERS, log, async ([pieceId, closer], asker) => {
    const records = (await context.pointers.servable(context.pointers.get(pieceId as PieceId))).slice(0, context.pointers.maxHoldersPerPiece)
    if (closer === undefined) return records
    // As Kademlia's FIND_VALUE: the value, or else closer nodes (the asker needs no directions once it has records).
    return { records, contacts: records.length > 0 ? [] : node.closestContacts(dhtKeyOf(pieceId as PieceId), FIND_POINTERS_CONTACTS, asker) }
  })
  handler(node, RPC.FIND_POINTERS_MANY, log, async ([pieceIds]) => {
    const lists = pieceIds.map(pieceId => context.pointers.get(pieceId as PieceId))
    const servable = new Set(await context.pointers.servable(lists.flat()))
    return lists.map(list => list.filter(r => servable.has(r)).slice(0, MAX_RECORDS_PER_PIECE_IN_BATCH))
  })
  handler(node, RPC.STORE_CONTACT, log, ([info]) => context.contacts.put(info))
  handler(node, RPC.FIND_CONTACT, log, ([nodeId]) => {
    const info = context.contacts.get(nodeId as NodeId)
    return info === undefined ? [] : [info]
  })
}

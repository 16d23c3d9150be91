import { join } from 'node:path'
import type { PointerRecord } from '../crypto/pointer.js'
import { readJsonFile, writeJsonAtomic } from './persist.js'
import { contactBinds, contactSchema, type Contact } from './wire.js'

/**
 * What a server keeps in its DHT data dir across restarts:
 * - peers.json: the routing table's contacts, so a restarted node rejoins through the peers it knew
 *   even when its seeds are down;
 * - pointers.json: the pointer records it holds for others, so a restart does not make pieces
 *   unfindable until their holders next refresh.
 * Both are rewritten whole and atomically (small files). Anything unreadable is ignored with a
 * warning: the node then starts as a fresh one, which is always safe.
 */

export const PEERS_FILE = 'peers.json'
export const POINTERS_FILE = 'pointers.json'
const FORMAT = 1
/** Contacts kept from a peers file at most (a routing table holds K per bucket). */
const MAX_PEERS = 160 * 20

export async function savePeers (dir: string, contacts: readonly Contact[]): Promise<void> {
  await writeJsonAtomic(join(dir, PEERS_FILE), { format: FORMAT, savedAt: Date.now(), peers: contacts })
}

/** Valid, binding, server contacts from the peers file; [] when there is none. Throws when unreadable. */
export async function loadPeers (dir: string): Promise<Contact[]> {
  const json = await readJsonFile(join(dir, PEERS_FILE)) as { format?: unknown, peers?: unknown } | undefined
  if (json === undefined) return []
  if (json?.format !== FORMAT || !Array.isArray(json.peers)) throw new Error(`${PEERS_FILE}: unknown format`)
  const out: Contact[] = []
  for (const entry of json.peers.slice(0, MAX_PEERS)) {
    const parsed = contactSchema.safeParse(entry)
    if (!parsed.success) continue
    const contact = parsed.data as Contact
    if (contact[1].role === 'client' || !contactBinds(contact[0], contact[1])) continue
    out.push(contact)
  }
  return out
}

export async function savePointers (dir: string, records: readonly PointerRecord[]): Promise<void> {
  await writeJsonAtomic(join(dir, POINTERS_FILE), { format: FORMAT, savedAt: Date.now(), records })
}

/** The raw records of the pointers file (the store checks each again); [] when there is none. */
export async function loadPointers (dir: string): Promise<unknown[]> {
  const json = await readJsonFile(join(dir, POINTERS_FILE)) as { format?: unknown, records?: unknown } | undefined
  if (json === undefined) return []
  if (json?.format !== FORMAT || !Array.isArray(json.records)) throw new Error(`${POINTERS_FILE}: unknown format`)
  return json.records
}

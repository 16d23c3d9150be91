import { abortReason } from '../core/abort.js'
import { compareDistance, keyBytes } from './keys.js'
import type { DhtKey } from './types.js'
import type { Contact } from './wire.js'

/**
 * Our own iterative Kademlia lookup over FIND_NODE, rather than kadence's _iterativeFind (which in
 * 5.0.4 can return after a round that brought nothing closer without asking the K closest, counts
 * nothing, and cannot be cancelled).
 *
 * Candidates are kept sorted by XOR distance to the target. At most `alpha` requests are in flight;
 * whenever one ends, the closest candidates not yet asked among the `count` closest that have not
 * failed are asked next. The lookup ends when those `count` closest have all answered — the
 * standard termination: nothing closer can be learned from anyone it knows — or when it runs out of
 * candidates. A candidate that fails (timeout, error, wrong node at the address) is dropped from the
 * shortlist and reported through onFailure (the caller evicts it from the routing table).
 *
 * Hops: a candidate from our own routing table is at depth 1; one first learned from a peer at
 * depth d is at depth d + 1. `hops` is the depth of the closest peer found: the number of sequential
 * round trips the lookup needed to reach it.
 */

export interface LookupParams {
  target: DhtKey
  /** Our own key: never a candidate. */
  self: DhtKey
  /** Starting candidates (the routing table's closest). */
  initial: readonly Contact[]
  /** Asks one peer for its closest contacts to the target (validated contacts). */
  query: (peer: Contact, signal: AbortSignal | undefined) => Promise<Contact[]>
  /** A peer failed to answer properly. */
  onFailure: (peer: Contact, err: unknown) => void
  /** Contacts never to ask (known dead just now: other nodes keep handing them out until they try them). */
  skip?: (peer: Contact) => boolean
  /** K: how many closest peers to find. */
  count: number
  /** Requests in flight at once. */
  alpha: number
  /**
   * Checked after every answer: true ends the lookup there (a FIND_VALUE that found its value),
   * with the peers that answered so far. Requests still in flight are left to finish unread.
   */
  stop?: () => boolean
  signal?: AbortSignal
}

export interface LookupOutcome {
  /** Closest first; only peers that answered; at most `count`. */
  contacts: Contact[]
  hops: number
  /** Requests sent. */
  queried: number
}

interface Candidate {
  contact: Contact
  bytes: Buffer
  depth: number
  state: 'new' | 'inflight' | 'answered' | 'failed'
}

export async function iterativeLookup (params: LookupParams): Promise<LookupOutcome> {
  const { target, self, count, alpha, signal } = params
  if (signal?.aborted === true) throw abortReason(signal)
  const targetBytes = keyBytes(target)
  const known = new Map<string, Candidate>()
  const sorted: Candidate[] = []

  const add = (contact: Contact, depth: number): void => {
    const key = contact[0]
    if (key === self || params.skip?.(contact) === true) return
    const existing = known.get(key)
    if (existing !== undefined) {
      if (existing.state === 'new' && depth < existing.depth) existing.depth = depth
      return
    }
    const candidate: Candidate = { contact, bytes: keyBytes(key), depth, state: 'new' }
    known.set(key, candidate)
    // Binary search for the insertion point (closest first).
    let lo = 0
    let hi = sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (compareDistance(sorted[mid]!.bytes, candidate.bytes, targetBytes) < 0) lo = mid + 1
      else hi = mid
    }
    sorted.splice(lo, 0, candidate)
  }
  for (const contact of params.initial) add(contact, 1)

  let inflight = 0
  let queried = 0
  return await new Promise<LookupOutcome>((resolve, reject) => {
    let done = false
    const onAbort = (): void => {
      if (done) return
      done = true
      reject(abortReason(signal!))
    }
    signal?.addEventListener('abort', onAbort, { once: true })

    const finish = (): void => {
      done = true
      signal?.removeEventListener('abort', onAbort)
      const contacts: Contact[] = []
      let hops = 0
      for (const c of sorted) {
        if (c.state !== 'answered') continue
        if (contacts.length === 0) hops = c.depth
        contacts.push(c.contact)
        if (contacts.length >= count) break
      }
      resolve({ contacts, hops, queried })
    }

    const launch = (candidate: Candidate): void => {
      candidate.state = 'inflight'
      inflight++
      queried++
      params.query(candidate.contact, signal).then(contacts => {
        candidate.state = 'answered'
        if (!done) for (const contact of contacts) add(contact, candidate.depth + 1)
      }, (err: unknown) => {
        candidate.state = 'failed'
        // An aborted request says nothing about the peer.
        if (signal?.aborted !== true) params.onFailure(candidate.contact, err)
      }).finally(() => {
        inflight--
        step()
      })
    }

    const step = (): void => {
      if (done) return
      if (params.stop?.() === true) { finish(); return }
      let inWindow = 0
      let settled = true
      for (const candidate of sorted) {
        if (candidate.state === 'failed') continue
        if (inWindow >= count) break
        inWindow++
        if (candidate.state === 'answered') continue
        settled = false
        if (candidate.state === 'new' && inflight < alpha) launch(candidate)
      }
      if (settled) finish()
    }

    step()
  })
}

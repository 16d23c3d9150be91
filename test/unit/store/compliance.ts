import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { LEAF_SIZE, MAX_AUDIT_LEAVES, MAX_PIECE_SIZE } from '../../../src/core/constants.js'
import {
  AbortError, CapacityExceededError, InvalidArgumentError, InvalidPieceIdError, NotOwnerError,
  PieceHashMismatchError, PieceNotFoundError, PieceTooLargeError, StoreError
} from '../../../src/core/errors.js'
import type { PieceId } from '../../../src/core/ids.js'
import { buildProof, leafCount, MerkleHasher, verifyProof } from '../../../src/crypto/merkle.js'
import type { PieceStore } from '../../../src/store/index.js'
import { collect, makeOwner, makePiece, stalledBody, trackedBody } from './fixtures.js'

/**
 * The behaviour every PieceStore must have, run against each implementation with its own
 * factory (disk-store.test.ts, memory-store.test.ts) so the memory store other components
 * test against cannot drift from the real one.
 */

export interface StoreHarness {
  store: PieceStore
  /** Closes the store and removes whatever it left behind. */
  cleanup: () => Promise<void>
}

export type StoreFactory = (init: { capacity: number }) => Promise<StoreHarness>

const MiB = 1024 * 1024
const BAD_IDS = ['../../etc/passwd', 'A'.repeat(64), 'ab'.repeat(31), `${'a'.repeat(63)}/`, '', 'a'.repeat(65)]

export function runStoreCompliance (name: string, factory: StoreFactory): void {
  async function open (t: TestContext, capacity = 16 * MiB): Promise<PieceStore> {
    const harness = await factory({ capacity })
    t.after(async () => { await harness.cleanup() })
    return harness.store
  }

  describe(`${name}: piece store compliance`, () => {
    it('puts a piece and gets it back whole, with stats, has, stat and list', async t => {
      const store = await open(t)
      const owner = makeOwner()
      const piece = makePiece(3 * LEAF_SIZE + 123)
      const before = Date.now()
      assert.equal(await store.has(piece.id), false)
      assert.equal(await store.stat(piece.id), undefined)
      assert.deepEqual(await store.put(piece.id, piece.data.length, trackedBody(piece.data), { owner }), { created: true })
      assert.equal(await store.has(piece.id), true)
      const meta = await store.stat(piece.id)
      assert.ok(meta !== undefined)
      assert.equal(meta.id, piece.id)
      assert.equal(meta.size, piece.data.length)
      assert.deepEqual(meta.owners, [owner])
      assert.ok(meta.storedAt >= before && meta.storedAt <= Date.now(), 'storedAt is the put time')
      const got = await store.get(piece.id)
      assert.equal(got.size, piece.data.length)
      assert.ok((await collect(got.stream)).equals(piece.data))
      assert.deepEqual(store.stats(), { capacity: 16 * MiB, used: piece.data.length, reserved: 0, free: 16 * MiB - piece.data.length, pieces: 1 })

      const other = makePiece(10)
      await store.put(other.id, other.data.length, trackedBody(other.data), { owner })
      const listed: PieceId[] = []
      for await (const id of store.list()) listed.push(id)
      assert.deepEqual(listed.sort(), [piece.id, other.id].sort())
    })

    it('stores an empty piece', async t => {
      const store = await open(t)
      const piece = makePiece(0)
      assert.deepEqual(await store.put(piece.id, 0, trackedBody(piece.data), { owner: makeOwner() }), { created: true })
      const got = await store.get(piece.id)
      assert.equal(got.size, 0)
      assert.equal((await collect(got.stream)).length, 0)
      const proof = await store.audit(piece.id, [0])
      assert.equal(proof.leafCount, 1)
      assert.ok(verifyProof(Buffer.from(piece.id, 'hex'), 0, 1, proof.leaves[0]!, proof.proofs[0]!))
    })

    it('gets byte ranges and refuses ranges outside the piece', async t => {
      const store = await open(t)
      const piece = makePiece(2 * LEAF_SIZE + 500)
      await store.put(piece.id, piece.data.length, trackedBody(piece.data), { owner: makeOwner() })
      const size = piece.data.length
      for (const [offset, length] of [[0, 1], [LEAF_SIZE - 10, 20], [5, size - 5], [size - 1, 1], [size, 0], [100, 0]] as const) {
        const got = await store.get(piece.id, { offset, length })
        assert.equal(got.size, length)
        assert.ok((await collect(got.stream)).equals(piece.data.subarray(offset, offset + length)), `range ${offset}+${length}`)
      }
      const tail = await store.get(piece.id, { offset: 1000 })
      assert.equal(tail.size, size - 1000)
      assert.ok((await collect(tail.stream)).equals(piece.data.subarray(1000)))
      for (const range of [{ offset: size + 1 }, { offset: 0, length: size + 1 }, { offset: size - 1, length: 2 }, { offset: -1 }, { length: -1 }, { offset: 1.5 }, { offset: Number.NaN }]) {
        await assert.rejects(store.get(piece.id, range), InvalidArgumentError, JSON.stringify(range))
      }
      await assert.rejects(store.get(makePiece(10).id), PieceNotFoundError)
    })

    it('answers audits with leaves and proofs that verify against the id', async t => {
      const store = await open(t)
      const piece = makePiece(7 * LEAF_SIZE + 1000)
      await store.put(piece.id, piece.data.length, trackedBody(piece.data), { owner: makeOwner() })
      const count = leafCount(piece.data.length)
      assert.equal(count, 8)
      const indices = [0, 3, 7, 7, 6]
      const proof = await store.audit(piece.id, indices)
      assert.equal(proof.leafCount, count)
      assert.equal(proof.leaves.length, indices.length)
      const { leafHashes } = new MerkleHasher().update(piece.data).digest()
      const root = Buffer.from(piece.id, 'hex')
      indices.forEach((index, i) => {
        const leaf = proof.leaves[i]!
        assert.ok(leaf.equals(piece.data.subarray(index * LEAF_SIZE, (index + 1) * LEAF_SIZE)), `leaf ${index} data`)
        assert.deepEqual(proof.proofs[i], buildProof(leafHashes, index), `proof ${index} as buildProof makes it`)
        assert.ok(verifyProof(root, index, count, leaf, proof.proofs[i]!), `proof ${index} verifies`)
        assert.equal(verifyProof(root, index, count, Buffer.concat([leaf, Buffer.from([1])]), proof.proofs[i]!), false)
      })
      assert.deepEqual(await store.audit(piece.id, []), { leafCount: count, leaves: [], proofs: [] })
      for (const bad of [[8], [-1], [1.5], [Number.NaN], new Array(MAX_AUDIT_LEAVES + 1).fill(0)]) {
        await assert.rejects(store.audit(piece.id, bad), InvalidArgumentError, String(bad))
      }
      await assert.rejects(store.audit(makePiece(10).id, [0]), PieceNotFoundError)
    })

    it('is idempotent: a second put consumes the body, adds the owner and uses no more space', async t => {
      const store = await open(t)
      const piece = makePiece(LEAF_SIZE + 7)
      const [alice, bob] = [makeOwner(), makeOwner()]
      await store.put(piece.id, piece.data.length, trackedBody(piece.data), { owner: alice })
      const again = trackedBody(piece.data)
      assert.deepEqual(await store.put(piece.id, piece.data.length, again, { owner: bob }), { created: false })
      assert.equal(again.finished, true, 'the body was consumed')
      assert.deepEqual((await store.stat(piece.id))?.owners, [alice, bob])
      assert.deepEqual(await store.put(piece.id, piece.data.length, trackedBody(piece.data), { owner: bob.toUpperCase() }), { created: false })
      assert.deepEqual((await store.stat(piece.id))?.owners, [alice, bob], 'owners are canonical lowercase and not duplicated')
      assert.equal(store.stats().used, piece.data.length)
      assert.equal(store.stats().pieces, 1)
      await assert.rejects(store.put(piece.id, piece.data.length + 1, trackedBody(piece.data), { owner: bob }), InvalidArgumentError)
    })

    it('refuses bytes that do not hash to the id, leaving nothing behind', async t => {
      const store = await open(t)
      const piece = makePiece(2 * LEAF_SIZE)
      const forged = Buffer.from(piece.data)
      forged[LEAF_SIZE + 3]! ^= 0xff
      await assert.rejects(store.put(piece.id, forged.length, trackedBody(forged), { owner: makeOwner() }), PieceHashMismatchError)
      assert.equal(await store.has(piece.id), false)
      assert.deepEqual(store.stats(), { capacity: 16 * MiB, used: 0, reserved: 0, free: 16 * MiB, pieces: 0 })
      // The genuine bytes are still accepted afterwards.
      assert.deepEqual(await store.put(piece.id, piece.data.length, trackedBody(piece.data), { owner: makeOwner() }), { created: true })
    })

    it('refuses bodies shorter or longer than the announced size', async t => {
      const store = await open(t)
      const piece = makePiece(LEAF_SIZE)
      await assert.rejects(store.put(piece.id, piece.data.length, trackedBody(piece.data.subarray(1)), { owner: makeOwner() }), InvalidArgumentError)
      const longer = trackedBody(Buffer.concat([piece.data, Buffer.alloc(100 * 7000)]))
      await assert.rejects(store.put(piece.id, piece.data.length, longer, { owner: makeOwner() }), InvalidArgumentError)
      assert.ok(longer.pulled < 10, `stopped reading at the first extra byte (pulled ${longer.pulled} chunks)`)
      assert.equal(await store.has(piece.id), false)
      assert.equal(store.stats().reserved, 0)
      assert.equal(store.stats().used, 0)
    })

    it('passes an error thrown by the body through unchanged, keeping nothing', async t => {
      const store = await open(t)
      const piece = makePiece(2 * LEAF_SIZE)
      const reset = new Error('connection reset by peer')
      async function * failing (): AsyncGenerator<Uint8Array> {
        yield piece.data.subarray(0, LEAF_SIZE)
        throw reset
      }
      await assert.rejects(store.put(piece.id, piece.data.length, failing(), { owner: makeOwner() }), err => err === reset)
      assert.equal(await store.has(piece.id), false)
      assert.deepEqual(store.stats(), { capacity: 16 * MiB, used: 0, reserved: 0, free: 16 * MiB, pieces: 0 })
    })

    it('refuses a piece over capacity without consuming its body, counting in-flight reservations', async t => {
      const store = await open(t, 100_000)
      const big = makePiece(100_001)
      const body = trackedBody(big.data)
      await assert.rejects(store.put(big.id, big.data.length, body, { owner: makeOwner() }), CapacityExceededError)
      assert.equal(body.pulled, 0, 'body untouched')

      // A put in flight holds its reservation: a second piece that fits alone does not fit next to it.
      const first = makePiece(60_000)
      let stalled!: () => void
      const isStalled = new Promise<void>(resolve => { stalled = resolve })
      const controller = new AbortController()
      const inFlight = store.put(first.id, first.data.length, stalledBody(first.data.subarray(0, 1000), stalled), { owner: makeOwner(), signal: controller.signal })
      await isStalled
      assert.equal(store.stats().reserved, 60_000)
      assert.equal(store.stats().free, 40_000)
      const second = makePiece(50_000)
      const secondBody = trackedBody(second.data)
      await assert.rejects(store.put(second.id, second.data.length, secondBody, { owner: makeOwner() }), CapacityExceededError)
      assert.equal(secondBody.pulled, 0)
      controller.abort()
      await assert.rejects(inFlight, AbortError)
      assert.equal(store.stats().reserved, 0)
      assert.deepEqual(await store.put(second.id, second.data.length, trackedBody(second.data), { owner: makeOwner() }), { created: true })
    })

    it('refuses sizes that are not valid piece sizes', async t => {
      const store = await open(t)
      const id = makePiece(1).id
      await assert.rejects(store.put(id, MAX_PIECE_SIZE + 1, trackedBody(Buffer.alloc(1)), { owner: makeOwner() }), PieceTooLargeError)
      for (const size of [-1, 1.5, Number.NaN, '10' as unknown as number]) {
        await assert.rejects(store.put(id, size, trackedBody(Buffer.alloc(1)), { owner: makeOwner() }), InvalidArgumentError, String(size))
      }
    })

    it('rejects invalid ids on every method, before touching the body', async t => {
      const store = await open(t)
      const owner = makeOwner()
      for (const raw of BAD_IDS) {
        const id = raw as PieceId
        const body = trackedBody(Buffer.alloc(10))
        await assert.rejects(store.put(id, 10, body, { owner }), InvalidPieceIdError, raw)
        assert.equal(body.pulled, 0)
        await assert.rejects(store.has(id), InvalidPieceIdError)
        await assert.rejects(store.stat(id), InvalidPieceIdError)
        await assert.rejects(store.get(id), InvalidPieceIdError)
        await assert.rejects(store.audit(id, [0]), InvalidPieceIdError)
        await assert.rejects(store.addOwner(id, owner), InvalidPieceIdError)
        await assert.rejects(store.removeOwner(id, owner), InvalidPieceIdError)
      }
      assert.equal(store.stats().pieces, 0)
    })

    it('rejects owners that are not 64 hex characters', async t => {
      const store = await open(t)
      const piece = makePiece(100)
      await store.put(piece.id, 100, trackedBody(piece.data), { owner: makeOwner() })
      for (const owner of ['', 'zz'.repeat(32), 'ab'.repeat(31), 'ab'.repeat(33), undefined as unknown as string]) {
        const other = makePiece(10)
        await assert.rejects(store.put(other.id, 10, trackedBody(other.data), { owner }), InvalidArgumentError, String(owner))
        await assert.rejects(store.addOwner(piece.id, owner), InvalidArgumentError)
        await assert.rejects(store.removeOwner(piece.id, owner), InvalidArgumentError)
      }
    })

    it('manages owners: add, remove, delete with the last owner', async t => {
      const store = await open(t)
      const piece = makePiece(LEAF_SIZE * 2)
      const [alice, bob, mallory] = [makeOwner(), makeOwner(), makeOwner()]
      await assert.rejects(store.addOwner(piece.id, alice), PieceNotFoundError)
      await assert.rejects(store.removeOwner(piece.id, alice), PieceNotFoundError)
      await store.put(piece.id, piece.data.length, trackedBody(piece.data), { owner: alice })
      await store.addOwner(piece.id, bob)
      await store.addOwner(piece.id, bob)
      assert.deepEqual((await store.stat(piece.id))?.owners, [alice, bob])
      await assert.rejects(store.removeOwner(piece.id, mallory), NotOwnerError)
      assert.deepEqual(await store.removeOwner(piece.id, alice), { deleted: false })
      assert.deepEqual((await store.stat(piece.id))?.owners, [bob])
      assert.equal(store.stats().used, piece.data.length)
      await assert.rejects(store.removeOwner(piece.id, alice), NotOwnerError)
      assert.deepEqual(await store.removeOwner(piece.id, bob), { deleted: true })
      assert.equal(await store.has(piece.id), false)
      assert.equal(await store.stat(piece.id), undefined)
      await assert.rejects(store.get(piece.id), PieceNotFoundError)
      assert.deepEqual(store.stats(), { capacity: 16 * MiB, used: 0, reserved: 0, free: 16 * MiB, pieces: 0 })
      // Deleted means gone: the same piece can be stored again from scratch.
      assert.deepEqual(await store.put(piece.id, piece.data.length, trackedBody(piece.data), { owner: mallory }), { created: true })
      assert.deepEqual((await store.stat(piece.id))?.owners, [mallory])
    })

    it('aborts a put mid-stream, releasing the reservation and keeping nothing', async t => {
      const store = await open(t)
      const piece = makePiece(3 * LEAF_SIZE)
      const controller = new AbortController()
      const put = store.put(piece.id, piece.data.length, stalledBody(piece.data.subarray(0, LEAF_SIZE), () => { controller.abort() }), { owner: makeOwner(), signal: controller.signal })
      await assert.rejects(put, AbortError)
      assert.equal(await store.has(piece.id), false)
      assert.deepEqual(store.stats(), { capacity: 16 * MiB, used: 0, reserved: 0, free: 16 * MiB, pieces: 0 })
      assert.deepEqual(await store.put(piece.id, piece.data.length, trackedBody(piece.data), { owner: makeOwner() }), { created: true })

      const already = new AbortController()
      already.abort()
      const other = makePiece(10)
      await assert.rejects(store.put(other.id, 10, trackedBody(other.data), { owner: makeOwner(), signal: already.signal }), AbortError)
      await assert.rejects(store.get(piece.id, { signal: already.signal }), AbortError)
      await assert.rejects(store.audit(piece.id, [0], { signal: already.signal }), AbortError)
    })

    it('aborts a get stream while it is being read', async t => {
      const store = await open(t)
      const piece = makePiece(1 * MiB)
      await store.put(piece.id, piece.data.length, trackedBody(piece.data, 64 * 1024), { owner: makeOwner() })
      const controller = new AbortController()
      const { stream } = await store.get(piece.id, { signal: controller.signal })
      await assert.rejects(async () => {
        let read = 0
        for await (const chunk of stream) {
          read += chunk.length
          if (read >= 64 * 1024) controller.abort()
        }
      }, AbortError)
    })

    it('serializes concurrent puts of the same id: one copy, one count, every owner', async t => {
      const store = await open(t)
      const piece = makePiece(5 * LEAF_SIZE + 3)
      const owners = Array.from({ length: 6 }, () => makeOwner())
      const results = await Promise.all(owners.map(async owner => await store.put(piece.id, piece.data.length, trackedBody(piece.data, 4096), { owner })))
      assert.equal(results.filter(r => r.created).length, 1)
      assert.deepEqual(store.stats(), { capacity: 16 * MiB, used: piece.data.length, reserved: 0, free: 16 * MiB - piece.data.length, pieces: 1 })
      assert.deepEqual((await store.stat(piece.id))?.owners.sort(), owners.slice().sort())
      assert.ok((await collect((await store.get(piece.id)).stream)).equals(piece.data))
    })

    it('accepts concurrent puts of different ids within capacity', async t => {
      const store = await open(t, 250_000)
      const pieces = Array.from({ length: 4 }, () => makePiece(60_000))
      const results = await Promise.allSettled(pieces.map(async p => await store.put(p.id, 60_000, trackedBody(p.data, 5000), { owner: makeOwner() })))
      assert.ok(results.every(r => r.status === 'fulfilled'))
      const fifth = makePiece(60_000)
      await assert.rejects(store.put(fifth.id, 60_000, trackedBody(fifth.data), { owner: makeOwner() }), CapacityExceededError)
      assert.deepEqual(store.stats(), { capacity: 250_000, used: 240_000, reserved: 0, free: 10_000, pieces: 4 })
    })

    it('refuses operations after close', async t => {
      const harness = await factory({ capacity: MiB })
      t.after(async () => { await harness.cleanup() })
      const piece = makePiece(10)
      await harness.store.put(piece.id, 10, trackedBody(piece.data), { owner: makeOwner() })
      await harness.store.close()
      await assert.rejects(harness.store.has(piece.id), StoreError)
      await assert.rejects(harness.store.get(piece.id), StoreError)
    })
  })
}

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Redis } from 'ioredis'
import { pino } from 'pino'
import { z } from 'zod'
import { InvalidArgumentError, RegistryCorruptError } from '../../../src/core/errors.js'
import { closeRedis, createRedis } from '../../../src/jobs/connection.js'
import { VersionedRecords } from '../../../src/jobs/versioned-records.js'
import { requireRedis, startRedis, type RedisServer } from '../../helpers/redis.js'

/**
 * VersionedRecords against a real redis-server (skipped without one, failed under CI=true). Each
 * test uses its own key prefix.
 */

const recordSchema = z.strictObject({
  id: z.string().regex(/^[0-9a-f]{64}$/),
  n: z.number().int().nonnegative(),
  tag: z.string().max(8).optional()
})
type Rec = z.infer<typeof recordSchema>

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)
const C = 'c'.repeat(64)

async function rejectsWith (promise: Promise<unknown>, cls: new (...args: never[]) => Error, pattern?: RegExp): Promise<Error> {
  try {
    await promise
  } catch (err) {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`)
    if (pattern !== undefined) assert.match(err.message, pattern)
    return err
  }
  assert.fail(`expected ${cls.name}`)
}

describe('VersionedRecords (real Redis)', () => {
  let redis: RedisServer | undefined
  let client: Redis
  const clients: Redis[] = []
  let nextPrefix = 0

  before(async () => {
    redis = await startRedis()
    if (redis !== undefined) {
      client = createRedis({ url: redis.url, role: 'client' })
      client.on('error', () => {})
    }
  })

  after(async () => {
    await Promise.all(clients.map(async c => await closeRedis(c)))
    if (client !== undefined) await closeRedis(client)
    await redis?.close()
  })

  function records (options: { redis?: Redis, prefix?: string, logs?: string[] } = {}): VersionedRecords<Rec> {
    const logs = options.logs
    return new VersionedRecords<Rec>({
      redis: options.redis ?? client,
      prefix: options.prefix ?? `vr${nextPrefix++}`,
      name: 'thing',
      schema: recordSchema,
      idOf: r => r.id,
      idPattern: /^[0-9a-f]{64}$/,
      ...(logs === undefined ? {} : { logger: pino({ level: 'warn' }, { write: (line: string) => { logs.push(line) } }) })
    })
  }

  const keysOf = async (prefix: string): Promise<string[]> => (await client.keys(`${prefix}:*`)).sort()

  test('get, ids and list of an empty collection', async (t) => {
    if (!requireRedis(redis, t)) return
    const r = records()
    assert.equal(await r.get(A), undefined)
    assert.deepEqual(await r.read(A), { record: undefined, version: '0' })
    assert.deepEqual(await r.ids(), [])
    assert.deepEqual(await r.list(), [])
  })

  test('update creates, changes and versions a record; the layout is the documented one', async (t) => {
    if (!requireRedis(redis, t)) return
    const r = records({ prefix: 'layout' })
    const seen: Array<Rec | undefined> = []
    const created = await r.update(A, cur => { seen.push(cur); return { id: A, n: 1 } })
    assert.deepEqual(created, { id: A, n: 1 })
    assert.equal(seen.length, 1)
    assert.equal(seen[0], undefined)
    assert.deepEqual(await r.get(A), { id: A, n: 1 })
    assert.deepEqual(await r.read(A), { record: { id: A, n: 1 }, version: '1' })
    const changed = await r.update(A, cur => { seen.push(cur); return { id: A, n: (cur?.n ?? 0) + 10, tag: 'x' } })
    assert.deepEqual(changed, { id: A, n: 11, tag: 'x' })
    assert.deepEqual(seen[1], { id: A, n: 1 })
    assert.deepEqual(await r.read(A), { record: { id: A, n: 11, tag: 'x' }, version: '2' })
    assert.deepEqual(await keysOf('layout'), ['layout:registry:thing:' + A, 'layout:registry:things'])
    assert.deepEqual(await client.smembers('layout:registry:things'), [A])
    assert.equal(await client.hget(`layout:registry:thing:${A}`, 'v'), '2')
    assert.deepEqual(JSON.parse(await client.hget(`layout:registry:thing:${A}`, 'record') ?? 'null'), { id: A, n: 11, tag: 'x' })
  })

  test('a change returning undefined writes nothing', async (t) => {
    if (!requireRedis(redis, t)) return
    const r = records({ prefix: 'noop' })
    assert.equal(await r.update(A, () => undefined), undefined)
    assert.deepEqual(await keysOf('noop'), [])
    await r.update(A, () => ({ id: A, n: 5 }))
    assert.deepEqual(await r.update(A, () => undefined), { id: A, n: 5 }, 'returns the record as it is')
    assert.equal((await r.read(A)).version, '1')
  })

  test('list and ids are sorted by id; remove deletes the record and its id', async (t) => {
    if (!requireRedis(redis, t)) return
    const r = records({ prefix: 'rm' })
    for (const id of [C, A, B]) await r.update(id, () => ({ id, n: id.charCodeAt(0) }))
    assert.deepEqual(await r.ids(), [A, B, C])
    assert.deepEqual(await r.list(), [{ id: A, n: 97 }, { id: B, n: 98 }, { id: C, n: 99 }])
    assert.equal(await r.remove(B), true)
    assert.equal(await r.get(B), undefined)
    assert.deepEqual(await r.ids(), [A, C])
    assert.deepEqual((await r.list()).map(x => x.id), [A, C])
    assert.equal(await client.exists(`rm:registry:thing:${B}`), 0)
    assert.equal(await r.remove(B), false, 'already gone')
    // A removed record starts again at version 1.
    await r.update(B, () => ({ id: B, n: 1 }))
    assert.equal((await r.read(B)).version, '1')
  })

  test('a record that does not match the schema is refused (InvalidArgumentError) and nothing is written', async (t) => {
    if (!requireRedis(redis, t)) return
    const r = records({ prefix: 'invalid' })
    await rejectsWith(r.update(A, () => ({ id: A, n: -1 })), InvalidArgumentError, /refusing to write a malformed thing record: n: /)
    await rejectsWith(r.update(A, () => ({ id: A, n: 1, extra: true }) as unknown as Rec), InvalidArgumentError, /malformed/)
    await rejectsWith(r.update(A, () => ({ id: A, n: 1, tag: 'far too long' })), InvalidArgumentError, /tag/)
    assert.deepEqual(await keysOf('invalid'), [])
    await r.update(A, () => ({ id: A, n: 3 }))
    await rejectsWith(r.update(A, cur => ({ id: A, n: (cur?.n ?? 0) + 0.5 })), InvalidArgumentError)
    assert.deepEqual(await r.read(A), { record: { id: A, n: 3 }, version: '1' }, 'the stored record is untouched')
  })

  test('a change may not move a record to another id', async (t) => {
    if (!requireRedis(redis, t)) return
    const r = records({ prefix: 'move' })
    await rejectsWith(r.update(A, () => ({ id: B, n: 1 })), InvalidArgumentError, /must not change the thing id/)
    assert.deepEqual(await keysOf('move'), [])
  })

  test('a corrupt record: get and update throw RegistryCorruptError, list skips it (and logs)', async (t) => {
    if (!requireRedis(redis, t)) return
    const logs: string[] = []
    const r = records({ prefix: 'corrupt', logs })
    await r.update(A, () => ({ id: A, n: 1 }))
    await r.update(C, () => ({ id: C, n: 3 }))
    const key = (id: string): string => `corrupt:registry:thing:${id}`
    // Not JSON.
    await client.hset(key(B), 'v', '1', 'record', '{not json')
    await client.sadd('corrupt:registry:things', B)
    await rejectsWith(r.get(B), RegistryCorruptError, /is not JSON/)
    assert.deepEqual(await r.list(), [{ id: A, n: 1 }, { id: C, n: 3 }])
    assert.equal(logs.length, 1)
    assert.match(logs[0] ?? '', /skipping corrupt registry record/)
    assert.ok(logs[0]?.includes(B))
    let called = 0
    await rejectsWith(r.update(B, () => { called++; return { id: B, n: 1 } }), RegistryCorruptError)
    assert.equal(called, 0, 'a change never sees a corrupt record')
    assert.equal(await client.hget(key(B), 'record'), '{not json', 'left as it is')
    // JSON of the wrong shape, and a valid record stored under another id.
    await client.hset(key(B), 'record', JSON.stringify({ id: B, n: 'many' }))
    await rejectsWith(r.get(B), RegistryCorruptError, /is malformed/)
    await client.hset(key(B), 'record', JSON.stringify({ id: A, n: 2 }))
    await rejectsWith(r.get(B), RegistryCorruptError, /is malformed/)
    assert.deepEqual((await r.list()).map(x => x.id), [A, C])
    // The corrupt one can be removed; then it is simply absent.
    assert.equal(await r.remove(B), true)
    assert.equal(await r.get(B), undefined)
  })

  test('an id set member of the wrong shape is ignored by ids and list', async (t) => {
    if (!requireRedis(redis, t)) return
    const r = records({ prefix: 'ids' })
    await r.update(A, () => ({ id: A, n: 1 }))
    await client.sadd('ids:registry:things', 'not-an-id', A.toUpperCase(), `${A}:x`)
    assert.deepEqual(await r.ids(), [A])
    assert.deepEqual(await r.list(), [{ id: A, n: 1 }])
    // An id in the set without a record is left out of list.
    await client.sadd('ids:registry:things', C)
    assert.deepEqual(await r.ids(), [A, C])
    assert.deepEqual(await r.list(), [{ id: A, n: 1 }])
  })

  test('the id shape is checked before anything is sent to Redis', async (t) => {
    if (!requireRedis(redis, t)) return
    const sent: string[] = []
    const spy = new Proxy({}, {
      get: (_target, prop) => (...args: unknown[]) => {
        sent.push(`${String(prop)} ${JSON.stringify(args)}`)
        return Promise.reject(new Error('not a real Redis'))
      }
    }) as unknown as Redis
    const r = records({ redis: spy, prefix: 'shape' })
    const badIds = ['', 'a', A.toUpperCase(), A.slice(1), `${A}0`, `${A.slice(2)}..`, `${A.slice(1)}*`, `${A}\n`, '../../etc/passwd']
    for (const id of badIds) {
      let called = 0
      await rejectsWith(r.get(id), InvalidArgumentError, /thing id has the wrong shape/)
      await rejectsWith(r.read(id), InvalidArgumentError)
      await rejectsWith(r.update(id, () => { called++; return { id, n: 1 } }), InvalidArgumentError)
      await rejectsWith(r.remove(id), InvalidArgumentError)
      assert.equal(called, 0)
      assert.throws(() => r.key(id), InvalidArgumentError)
    }
    assert.deepEqual(sent, [])
    // The real Redis saw nothing either.
    const real = records({ prefix: 'shape' })
    for (const id of badIds) await rejectsWith(real.update(id, () => ({ id: A, n: 1 })), InvalidArgumentError)
    assert.deepEqual(await keysOf('shape'), [])
    // A good id does reach Redis (the spy is wired correctly).
    await assert.rejects(r.get(A), /not a real Redis/)
    assert.equal(sent.length, 1)
    assert.match(sent[0] ?? '', /^hmget /)
  })

  test('concurrent updates on one connection lose nothing (10 in parallel)', async (t) => {
    if (!requireRedis(redis, t)) return
    const r = records({ prefix: 'cas10' })
    const results = await Promise.all(Array.from({ length: 10 }, async () => await r.update(A, cur => ({ id: A, n: (cur?.n ?? 0) + 1 }))))
    assert.deepEqual((results.map(x => x?.n) as number[]).sort((a, b) => a - b), Array.from({ length: 10 }, (_, i) => i + 1), 'each update saw a distinct state')
    assert.deepEqual(await r.read(A), { record: { id: A, n: 10 }, version: '10' })
  })

  test('concurrent updates from several connections lose nothing', async (t) => {
    if (!requireRedis(redis, t)) return
    const url = redis.url
    const conns = Array.from({ length: 5 }, () => {
      const c = createRedis({ url, role: 'client' })
      c.on('error', () => {})
      clients.push(c)
      return c
    })
    const stores = conns.map(c => records({ redis: c, prefix: 'casmany' }))
    // 5 connections × 4 updates each, all in flight at once, on two records.
    const jobs = stores.flatMap(s => Array.from({ length: 4 }, async (_, i) => {
      const id = i % 2 === 0 ? A : B
      return await s.update(id, cur => ({ id, n: (cur?.n ?? 0) + 1 }))
    }))
    await Promise.all(jobs)
    const check = records({ prefix: 'casmany' })
    assert.deepEqual(await check.list(), [{ id: A, n: 10 }, { id: B, n: 10 }])
    assert.equal((await check.read(A)).version, '10')
  })

  test('50 parallel increments: every acknowledged update is stored, none twice', async (t) => {
    if (!requireRedis(redis, t)) return
    const r = records({ prefix: 'cas50a' })
    const settled = await Promise.allSettled(Array.from({ length: 50 }, async () => await r.update(A, cur => ({ id: A, n: (cur?.n ?? 0) + 1 }))))
    const done = settled.filter(s => s.status === 'fulfilled').map(s => (s as PromiseFulfilledResult<Rec | undefined>).value?.n)
    const { record, version } = await r.read(A)
    assert.ok(done.length > 0)
    assert.equal(record?.n, done.length)
    assert.equal(version, String(done.length))
    assert.deepEqual((done as number[]).sort((a, b) => a - b), Array.from({ length: done.length }, (_, i) => i + 1))
    for (const s of settled) if (s.status === 'rejected') assert.match(String(s.reason), /kept changing; gave up after 20 attempts/)
  })

  test('50 parallel increments through update() all succeed', async (t) => {
    if (!requireRedis(redis, t)) return
    const r = records({ prefix: 'cas50b' })
    const settled = await Promise.allSettled(Array.from({ length: 50 }, async () => await r.update(A, cur => ({ id: A, n: (cur?.n ?? 0) + 1 }))))
    assert.deepEqual(settled.filter(s => s.status === 'rejected').map(s => String((s as PromiseRejectedResult).reason)), [])
    assert.deepEqual(await r.read(A), { record: { id: A, n: 50 }, version: '50' })
  })
})

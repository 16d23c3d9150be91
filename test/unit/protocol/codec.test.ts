import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { FrameDecoder, encodeFrameHead, Op, Res, parseHeader, PREFIX_SIZE, type DecoderEvent } from '../../../src/protocol/index.js'
import { FrameTooLargeError, InvalidHeaderError, MalformedFrameError, UnknownOperationError } from '../../../src/core/errors.js'

function drain (decoder: FrameDecoder): DecoderEvent[] {
  const out: DecoderEvent[] = []
  for (let ev = decoder.read(); ev !== undefined; ev = decoder.read()) out.push(ev)
  return out
}

const id = 'ab'.repeat(32)

describe('frame codec', () => {
  test('round trips a frame with header and body, fed byte by byte', () => {
    const body = randomBytes(1000)
    const wire = Buffer.concat([encodeFrameHead(Op.Get, { id, offset: 5, length: 1000 }, body.length), body])
    const decoder = new FrameDecoder()
    const events: DecoderEvent[] = []
    for (const byte of wire) { decoder.push(Buffer.from([byte])); events.push(...drain(decoder)) }
    const head = events[0]
    assert.equal(head?.kind, 'frame')
    assert.ok(head?.kind === 'frame')
    assert.equal(head.frame.type, Op.Get)
    assert.deepEqual(parseHeader(Op.Get, head.frame.header), { id, offset: 5, length: 1000 })
    const bytes = Buffer.concat(events.slice(1).map(e => e.kind === 'body' ? e.chunk : Buffer.alloc(0)))
    assert.deepEqual(bytes, body)
    assert.ok(events.at(-1)?.kind === 'body' && events.at(-1)?.kind === 'body' && (events.at(-1) as { last: boolean }).last)
    assert.ok(decoder.atBoundary)
  })

  test('decodes several frames from one chunk, binary header fields intact', () => {
    const owner = randomBytes(32)
    const signature = randomBytes(64)
    const wire = Buffer.concat([
      encodeFrameHead(Op.Put, { id, size: 10, owner, signature }),
      encodeFrameHead(Op.Ping, {}),
      encodeFrameHead(Res.Stat, { nodeId: id, version: '1.0.0', protocol: 1, capacity: 2 ** 40, used: 3, free: 2 ** 40 - 3, pieces: 1 })
    ])
    const decoder = new FrameDecoder()
    decoder.push(wire)
    const events = drain(decoder)
    assert.equal(events.length, 3)
    const put = events[0]
    assert.ok(put?.kind === 'frame')
    const h = parseHeader(Op.Put, put.frame.header)
    assert.deepEqual(Buffer.from(h.owner), owner)
    assert.deepEqual(Buffer.from(h.signature), signature)
    const stat = events[2]
    assert.ok(stat?.kind === 'frame')
    assert.equal(parseHeader(Res.Stat, stat.frame.header).capacity, 2 ** 40)
  })

  test('a zero-length body produces no body events', () => {
    const decoder = new FrameDecoder()
    decoder.push(encodeFrameHead(Op.Data, {}, 0))
    const events = drain(decoder)
    assert.equal(events.length, 1)
    assert.ok(decoder.atBoundary)
  })

  test('refuses bad magic, unknown types, oversize headers and bodies', () => {
    const cases: Array<[Buffer, new (...args: never[]) => Error]> = []
    const good = encodeFrameHead(Op.Ping, {})
    const badMagic = Buffer.from(good); badMagic[0] = 0x00
    cases.push([badMagic, MalformedFrameError])
    const unknown = Buffer.from(good); unknown[1] = 0x42
    cases.push([unknown, UnknownOperationError])
    const bigHeader = Buffer.from(good); bigHeader.writeUInt32BE(1 << 30, 2)
    cases.push([bigHeader, FrameTooLargeError])
    const bigBody = Buffer.from(good); bigBody.writeUInt32BE(0xffffffff, 6)
    cases.push([bigBody, FrameTooLargeError])
    const hugeBody = Buffer.from(good); hugeBody.writeUInt32BE(1, 6)
    cases.push([hugeBody, FrameTooLargeError])
    for (const [wire, cls] of cases) {
      const decoder = new FrameDecoder()
      decoder.push(wire)
      assert.throws(() => drain(decoder), cls)
      // Poisoned: the same error again, framing is not resumed.
      assert.throws(() => decoder.read(), cls)
    }
  })

  test('refuses headers that are not a msgpack map', () => {
    for (const header of [Buffer.from([0xc1]), Buffer.from([0x93, 1, 2, 3]), Buffer.from([0x01]), Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff])]) {
      const prefix = Buffer.alloc(PREFIX_SIZE)
      prefix[0] = 0xba; prefix[1] = Op.Ping; prefix.writeUInt32BE(header.length, 2)
      const decoder = new FrameDecoder()
      decoder.push(Buffer.concat([prefix, header]))
      assert.throws(() => drain(decoder), MalformedFrameError)
    }
  })

  test('a header of 0 bytes with nothing after the prefix is malformed, not a crash (fuzz seed 316434571)', () => {
    const prefix = Buffer.alloc(PREFIX_SIZE)
    prefix[0] = 0xba; prefix[1] = Op.Ping
    const decoder = new FrameDecoder()
    decoder.push(prefix)
    assert.throws(() => drain(decoder), MalformedFrameError)
  })

  test('header schemas reject wrong shapes with the offending field named', () => {
    assert.throws(() => parseHeader(Op.Get, { id: '../../etc/passwd' }), (err: Error) => err instanceof InvalidHeaderError && /id/.test(err.message))
    assert.throws(() => parseHeader(Op.Put, { id, size: -1, owner: randomBytes(32), signature: randomBytes(64) }), InvalidHeaderError)
    assert.throws(() => parseHeader(Op.Put, { id, size: 1, owner: randomBytes(31), signature: randomBytes(64) }), /owner/)
    assert.throws(() => parseHeader(Op.Audit, { id, indices: [] }), InvalidHeaderError)
    assert.throws(() => parseHeader(Op.Audit, { id, indices: Array.from({ length: 65 }, (_, i) => i) }), InvalidHeaderError)
    assert.throws(() => parseHeader(Op.Has, { ids: ['AB'.repeat(32)] }), InvalidHeaderError)
    // Signed records cost the node a signature each: a HAS with pointers is capped lower.
    const ids65 = Array.from({ length: 65 }, () => id)
    assert.equal(parseHeader(Op.Has, { ids: ids65 }).ids.length, 65)
    assert.throws(() => parseHeader(Op.Has, { ids: ids65, pointers: true }), /at most 64 ids with pointers/)
    assert.throws(() => parseHeader(Res.Has, { have: [true], pointers: [{ pieceId: id, holder: id }] }), InvalidHeaderError)
  })

  test('encodeFrameHead refuses headers over the limit', () => {
    assert.throws(() => encodeFrameHead(Op.Ping, { pad: 'x'.repeat(70_000) }), FrameTooLargeError)
  })
})

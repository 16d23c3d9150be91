/**
 * Operation codes of the BatNode piece protocol. A response carries the request's
 * code with the high bit set; ERROR answers any request.
 */
export const Op = {
  Hello: 0x01,
  Put: 0x02,
  Get: 0x03,
  Audit: 0x04,
  Delete: 0x05,
  Stat: 0x06,
  Ping: 0x07,
  Has: 0x08,
  /** The body of a PUT, sent only after the server answered PUT with Continue. */
  Data: 0x10,
  /** "Send the body": the server accepted a PUT header (capacity reserved). */
  Continue: 0x7e,
  Error: 0xff
} as const

export type OpCode = typeof Op[keyof typeof Op]

/** Response frame types (request op | 0x80), as literal types so headers stay typed. */
export const Res = {
  Hello: 0x81,
  Put: 0x82,
  Get: 0x83,
  Audit: 0x84,
  Delete: 0x85,
  Stat: 0x86,
  Ping: 0x87,
  Has: 0x88
} as const

export const RESPONSE_BIT = 0x80

export function responseOf (op: number): number {
  return op | RESPONSE_BIT
}

const NAMES = new Map<number, string>(Object.entries(Op).map(([name, code]) => [code, name]))
for (const [name, code] of Object.entries(Op)) {
  if (code < RESPONSE_BIT && code !== Op.Continue) NAMES.set(code | RESPONSE_BIT, `${name}Response`)
}

/** Whether a type byte is one this protocol version defines. */
export function isKnownType (type: number): boolean {
  return NAMES.has(type)
}

export function opName (type: number): string {
  return NAMES.get(type) ?? `0x${type.toString(16).padStart(2, '0')}`
}

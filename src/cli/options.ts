import { InvalidArgumentError } from '../core/errors.js'
import { parseSize } from '../core/size.js'
import { parseContactList, type Contact } from '../transfer/index.js'

/** Parsers for commander options, throwing our InvalidArgumentError with the option's name. */
export function intOption (name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value)
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`)
    }
    return n
  }
}

export function sizeOption (value: string): number {
  return parseSize(value)
}

/** --nodes HOST:PORT,HOST:PORT (repeatable; lists are merged). Also BATCHAIN_NODES. */
export function nodesOption (value: string, previous: Contact[] = []): Contact[] {
  return [...previous, ...parseContactList(value)]
}

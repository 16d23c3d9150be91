/**
 * A source that reads into the caller's memory (a file, a frame body on a socket): the consumer
 * owns the buffer, so no chunk is allocated per read and nothing is copied out of one. Moving
 * gigabytes, this is what keeps V8's garbage collector quiet: every chunk of a Node stream is
 * external memory to it, and enough of them trigger full collections.
 */
export interface ByteReader {
  /** Reads up to `target.length` bytes into `target`; resolves 0 only at the end. */
  readInto: (target: Uint8Array) => Promise<number>
}

export function isByteReader (source: unknown): source is ByteReader {
  return typeof (source as Partial<ByteReader> | null)?.readInto === 'function'
}

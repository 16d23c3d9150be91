/**
 * A small free list of equally sized buffers. Segment-sized buffers are the bulk of
 * what the client allocates: taking them from a pool keeps peak memory bounded by
 * the pipeline's window (not by how late the GC frees them) and spares the page
 * faults and zeroing of fresh memory for every segment.
 *
 * A buffer must only be given back when nothing can still read or write it (all
 * socket writes of it acknowledged, the erasure coder finished): on error paths,
 * drop it instead and let the GC have it.
 */
export class BufferPool {
  readonly size: number
  private readonly max: number
  private readonly free: Buffer[] = []

  private readonly allocate: (size: number) => Buffer

  constructor (size: number, max: number, allocate: (size: number) => Buffer = Buffer.allocUnsafeSlow) {
    this.size = size
    this.max = max
    this.allocate = allocate
  }

  /** A buffer of `size` bytes with unspecified contents. Never waits: allocates when the pool is empty. */
  take (): Buffer {
    return this.free.pop() ?? this.allocate(this.size)
  }

  give (buffer: Buffer): void {
    if (buffer.length === this.size && this.free.length < this.max && !this.free.includes(buffer)) this.free.push(buffer)
  }
}

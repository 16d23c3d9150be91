/**
 * Polls check() until it returns a value (not undefined), at most `attempts` times `everyMs` apart,
 * and (with `withinMs`) no longer than that: a slow check (a CLI run per attempt) would otherwise
 * stretch the wait far past what the attempts suggest.
 */
export async function eventually<T> (what: string, check: () => Promise<T | undefined>, { attempts = 600, everyMs = 100, withinMs = Infinity } = {}): Promise<T> {
  let last: unknown
  const deadline = performance.now() + withinMs
  for (let i = 0; i < attempts && (i === 0 || performance.now() < deadline); i++) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (err) {
      last = err
    }
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
  throw new Error(`${what}: not reached after ${attempts} checks or ${withinMs} ms${last === undefined ? '' : ` (last error: ${String(last)})`}`)
}

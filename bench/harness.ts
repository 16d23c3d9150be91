/**
 * Benchmark contract. A group is a file bench/groups/NAME.ts whose default export
 * is a BenchGroup. Each figure is printed as one JSON line on stdout:
 * {"name","value","unit"} plus "baseline" and "ratio" where a baseline measured
 * in the same run applies (machines are shared and noisy: ratios hold, absolute
 * times do not).
 */
export interface Figure {
  /** Dotted name, e.g. "transfer.upload". */
  name: string
  value: number
  unit: string
  /** The same quantity for the baseline, measured in the same run. */
  baseline?: number
  /** value / baseline. */
  ratio?: number
  /** Free-form context (sizes, parameters). */
  [extra: string]: unknown
}

export interface BenchContext {
  emit: (figure: Figure) => void
  /** A fresh directory for this group, removed afterwards. */
  tmpDir: string
  signal: AbortSignal
}

export type BenchGroup = (ctx: BenchContext) => Promise<void>

/** Builds a figure with ratio filled in from a baseline. */
export function withBaseline (name: string, value: number, unit: string, baseline: number, extra: Record<string, unknown> = {}): Figure {
  return { name, value: round(value), unit, baseline: round(baseline), ratio: round(value / baseline, 3), ...extra }
}

export function round (n: number, digits = 1): number {
  const f = 10 ** digits
  return Math.round(n * f) / f
}
